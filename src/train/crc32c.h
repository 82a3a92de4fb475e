// CRC32C (Castagnoli) and TFRecord's masked form, for the event writer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tos::train {

uint32_t Crc32c(const void* data, size_t n);
inline uint32_t MaskCrc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

}  // namespace tos::train
