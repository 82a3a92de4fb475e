// The subset of Python's pickle format that PySpark writes for numbers, strings, lists,
// tuples and numpy arrays (docs/formats.md, "pickle"). Decoding never runs code: it knows a
// fixed list of opcodes and of callables (numpy's array and dtype reconstructors) and refuses
// anything else with the byte offset and the opcode or global it met.
//
// Threading: values are immutable once returned and may be shared across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleValue {
  PickleValue() = default;
  PickleValue(const PickleValue&) = default;
  PickleValue(PickleValue&&) = default;
  PickleValue& operator=(const PickleValue&) = default;
  PickleValue& operator=(PickleValue&&) = default;
  ~PickleValue();  // iterative: deep nesting does not recurse

  enum Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kList, kTuple, kArray, kGlobal, kDtype };
  Kind kind = kNone;
  int64_t i = 0;                 // kBool, kInt
  double f = 0;                  // kFloat
  std::string s;                 // kString (UTF-8), kBytes, kGlobal ("module.name"), kDtype ("<f4")
  std::vector<PickleRef> items;  // kList, kTuple
  // kArray: a numpy array in C order, little-endian elements of dtype (a kDtype's s).
  std::string dtype;  // "|u1", "<i8", "<f4", "<f8", ... ("?": not yet built)
  std::vector<int64_t> shape;
  std::string data;

  // Numbers in a list/tuple of numbers, an array, or a single number. False otherwise.
  bool IsNumeric() const;
  size_t NumericSize() const;  // elements (array size, list length, 1 for a number)
  double NumericAt(size_t i) const;
  std::string Describe() const;  // "ndarray <f8 (10,)", "list of 3", "int", ... for messages
};

// Decodes one pickle (protocols 2 to 5). Errors are DataLoss "byte B: ..." relative to `data`.
Result<PickleRef> ParsePickle(std::string_view data);

// ---- writing (protocol 4; loadable by numpy 1.x and 2.x) ----

// Element types of arrays written by AppendPickledArray.
enum class PickleDtype { kUint8, kInt64, kFloat32, kFloat64 };

// The pickle of a PySpark batch: a list of the given element pickles (each made with the
// AppendPickled* calls below, no PROTO/STOP). The result is a complete pickle.
std::string PickleBatch(const std::vector<std::string>& elements);
// A 1-D numpy array of `count` elements (little-endian, the dtype's size each).
void AppendPickledArray(std::string* out, PickleDtype dtype, const void* data, size_t count);
// A Python list of ints or floats.
void AppendPickledIntList(std::string* out, const int64_t* values, size_t count);
void AppendPickledFloatList(std::string* out, const double* values, size_t count);

}  // namespace tos
