// Branch-light kernels for the two hot decoders.
//
// Packed pixels: a pixel v < 128 is the byte v, 128 <= v <= 255 is (v | 0x80), 0x01. So the
// pixels are the input bytes with every byte that follows a high-bit byte dropped, and every
// dropped byte must be 0x01. With SSSE3 that is a movemask and two pshufb per 16 bytes.
//
// CSV pixels: commas are found 16 bytes at a time; tokens between them are converted with a
// SWAR multiply, so the loop carries no data-dependent branches.
#include "mnist_fast.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tos::internal {
namespace {

constexpr size_t kPixels = 784;

#if defined(__x86_64__)
struct ShuffleTables {
  // For an 8-bit keep mask: the indices of its set bits, in order, then 0x80 (zero).
  alignas(16) uint64_t compact[256];
  ShuffleTables() {
    for (int m = 0; m < 256; ++m) {
      uint8_t idx[8];
      int k = 0;
      for (int b = 0; b < 8; ++b) {
        if (m & (1 << b)) idx[k++] = static_cast<uint8_t>(b);
      }
      while (k < 8) idx[k++] = 0x80;
      std::memcpy(&compact[m], idx, 8);
    }
  }
};

const ShuffleTables& Tables() {
  static const ShuffleTables t;
  return t;
}

__attribute__((target("ssse3,popcnt"))) bool DecodePackedPixelsSsse3(const uint8_t* q, size_t n,
                                                                     uint8_t* pixels) {
  const ShuffleTables& t = Tables();
  uint8_t out[kPixels + 48];
  size_t k = 0, i = 0;
  uint32_t carry = 0;  // 1 if the byte before q[i] was a lead byte >= 0x80
  uint32_t bad = 0;
  const __m128i ones = _mm_set1_epi8(1);
  for (; i + 16 <= n; i += 16) {
    if (k > kPixels) return false;
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i));
    uint32_t high = static_cast<uint32_t>(_mm_movemask_epi8(v));
    uint32_t cont = ((high << 1) | carry) & 0xffff;
    carry = high >> 15;
    uint32_t is_one = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, ones)));
    bad |= cont & ~is_one;
    uint32_t keep = ~cont & 0xffff;
    uint32_t lo = keep & 0xff, hi = keep >> 8;
    __m128i shuf_lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(&t.compact[lo]));
    __m128i shuf_hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(&t.compact[hi]));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + k), _mm_shuffle_epi8(v, shuf_lo));
    k += static_cast<size_t>(_mm_popcnt_u32(lo));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + k),
                     _mm_shuffle_epi8(_mm_srli_si128(v, 8), shuf_hi));
    k += static_cast<size_t>(_mm_popcnt_u32(hi));
  }
  if (k > kPixels) return false;
  for (; i < n; ++i) {
    const uint32_t b = q[i];
    out[k] = static_cast<uint8_t>(b);
    bad |= carry & (b != 1);
    k += 1 - carry;
    carry = (b >> 7) & (carry ^ 1);
  }
  if (bad || carry || k != kPixels) return false;
  std::memcpy(pixels, out, kPixels);
  return true;
}

bool HaveSsse3() {
  static const bool have = __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("popcnt");
  return have;
}
#endif

}  // namespace

bool DecodePackedPixelsScalar(const uint8_t* q, size_t n, uint8_t* pixels) {
  if (n > 2 * kPixels || n < kPixels) return false;
  uint8_t out[2 * kPixels + 1];
  size_t k = 0;
  uint32_t carry = 0, bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t b = q[i];
    out[k] = static_cast<uint8_t>(b);
    bad |= carry & (b != 1);
    k += 1 - carry;
    carry = (b >> 7) & (carry ^ 1);
  }
  if (bad || carry || k != kPixels) return false;
  std::memcpy(pixels, out, kPixels);
  return true;
}

bool DecodePackedPixelsFast(const uint8_t* q, size_t n, uint8_t* pixels) {
  if (n > 2 * kPixels || n < kPixels) return false;
#if defined(__x86_64__)
  if (HaveSsse3()) return DecodePackedPixelsSsse3(q, n, pixels);
#endif
  return DecodePackedPixelsScalar(q, n, pixels);
}

namespace {

// Value of the 1..3 ASCII digits at p (len bytes; 4 bytes readable at p). Sets *bad on a value
// over 255 or a length outside 1..3.
inline uint32_t TokenValue(const char* p, size_t len, uint32_t* bad) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  const uint32_t lenc = len > 3 ? 3 : len == 0 ? 1 : static_cast<uint32_t>(len);
  *bad |= static_cast<uint32_t>(len - 1 > 2);
  // Right-align the digits: byte 0 is the first character (little-endian load).
  uint32_t d = (w - 0x30303030u) << (8 * (4 - lenc));  // bytes: 0 | d0 | d1 | d2 (for len 3)
  d = (d * 10 + (d >> 8)) & 0x00ff00ffu;               // byte0: 0*10+d0, byte2: d1*10+d2
  const uint32_t v = ((d & 0xffu) * 100) + (d >> 16);
  *bad |= static_cast<uint32_t>(v > 255);
  return v;
}

}  // namespace

bool ParseCsvPixelsFast(const char* p, const char* end, uint8_t* pixels) {
#if defined(__SSE2__)
  const size_t n = static_cast<size_t>(end - p);
  if (n < 2 * kPixels - 1 || n > 4 * kPixels - 1) return false;
  size_t count = 0;
  size_t start = 0;  // offset of the current token
  uint32_t bad = 0;
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i below = _mm_set1_epi8('0' - 1);
  const __m128i above = _mm_set1_epi8('9' + 1);
  size_t i = 0;
  // 4 bytes of slack past each chunk: TokenValue loads 4 bytes at a token's start.
  for (; i + 20 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    uint32_t commas = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)));
    uint32_t digits = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, below), _mm_cmplt_epi8(v, above))));
    bad |= ~(commas | digits) & 0xffff;
    if (count + static_cast<size_t>(__builtin_popcount(commas)) >= kPixels) return false;
    while (commas) {
      const size_t pos = i + static_cast<size_t>(__builtin_ctz(commas));
      commas &= commas - 1;
      pixels[count++] = static_cast<uint8_t>(TokenValue(p + start, pos - start, &bad));
      start = pos + 1;
    }
  }
  // The last < 20 bytes.
  for (; i < n; ++i) {
    const char c = p[i];
    if (c == ',') {
      if (count + 1 >= kPixels || i - start > 3) return false;
      char tok[4] = {'0', '0', '0', '0'};
      std::memcpy(tok, p + start, i - start);
      pixels[count++] = static_cast<uint8_t>(TokenValue(tok, i - start, &bad));
      start = i + 1;
    } else if (static_cast<unsigned>(c - '0') > 9) {
      return false;
    }
  }
  if (count != kPixels - 1 || n - start > 3 || bad) return false;
  char tok[4] = {'0', '0', '0', '0'};
  std::memcpy(tok, p + start, n - start);
  pixels[count] = static_cast<uint8_t>(TokenValue(tok, n - start, &bad));
  return bad == 0;
#else
  (void)p;
  (void)end;
  (void)pixels;
  return false;
#endif
}

}  // namespace tos::internal
