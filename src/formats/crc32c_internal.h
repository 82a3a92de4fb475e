// The two CRC-32C implementations behind tos::Crc32c, exposed so tests can pin both.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tos::internal {

uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);  // slicing-by-8
uint32_t Crc32cExtendHardware(uint32_t crc, const void* data, size_t n);  // SSE4.2 crc32
bool Crc32cHardwareAvailable();

}  // namespace tos::internal
