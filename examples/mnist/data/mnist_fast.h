// Fast paths of the MNIST record decoders. Each either decodes a well-formed input completely
// or returns false without saying why; the caller then runs the exact (slower) decoder, which
// produces the error message. Tests pin that both paths agree.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tos::internal {

// A packed Int64List payload of exactly 784 pixel varints (each 0..255) -> pixels[784].
bool DecodePackedPixelsFast(const uint8_t* q, size_t n, uint8_t* pixels);
bool DecodePackedPixelsScalar(const uint8_t* q, size_t n, uint8_t* pixels);

// "p0,p1,...,p783" (exactly 784 decimal ints 0..255, 1-3 digits, no spaces) -> pixels[784].
bool ParseCsvPixelsFast(const char* p, const char* end, uint8_t* pixels);

}  // namespace tos::internal
