#include "tos/csv.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace tos {
namespace {

const char* TypeName(CsvType t) {
  switch (t) {
    case CsvType::kInt64:
      return "int64";
    case CsvType::kFloat:
      return "float";
    case CsvType::kString:
      return "string";
  }
  return "?";
}

// from_chars does not take a leading '+'; csv writers sometimes do.
const char* SkipPlus(const std::string& s) {
  return s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+' ? s.data() + 1 : s.data();
}

// A decimal float from_chars reads but float cannot hold: too small (it is 0 or a subnormal,
// as strtof gives) or too large (an error). Parsed again as a double to tell which.
bool FloatUnderflowsTo(const std::string& s, float* out) {
  double d = 0;
  auto [p, ec] = std::from_chars(SkipPlus(s), s.data() + s.size(), d);
  if (ec == std::errc() && p == s.data() + s.size()) {
    if (std::fabs(d) > std::numeric_limits<float>::max()) return false;
    *out = static_cast<float>(d);
    return true;
  }
  // Past a double too: too small if its exponent is negative.
  const size_t e = s.find_first_of("eE");
  if (e == std::string::npos || e + 1 >= s.size() || s[e + 1] != '-') return false;
  *out = s[0] == '-' ? -0.0f : 0.0f;
  return true;
}

std::string Shorten(std::string_view s) {
  return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 40)) + "...";
}

// Splits one line into fields; quoted fields lose their quotes and "" becomes ".
Status SplitFields(std::string_view line, char delim, std::vector<std::string>* fields) {
  fields->clear();
  size_t i = 0;
  for (;;) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      const size_t open = i++;
      for (;;) {
        if (i >= line.size())
          return DataLoss("csv line: the quote at byte " + std::to_string(open) +
                          " is never closed");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (i < line.size() && line[i] != delim) {
        return DataLoss("csv line: text after the closing quote at byte " + std::to_string(i));
      }
    } else {
      size_t end = line.find(delim, i);
      if (end == std::string_view::npos) end = line.size();
      field.assign(line.substr(i, end - i));
      i = end;
    }
    fields->push_back(std::move(field));
    if (i >= line.size()) return Status::OK();
    ++i;  // the delimiter
  }
}

}  // namespace

CsvLayout::CsvLayout(std::vector<CsvColumn> columns, char delimiter)
    : columns_(std::move(columns)), delimiter_(delimiter) {
  for (auto& c : columns_) num_fields_ += c.count;
}

Result<CsvLayout> CsvLayout::FromSpec(const std::string& spec, char delimiter) {
  std::vector<CsvColumn> columns;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string part = spec.substr(start, end - start);
    const size_t colon = part.find(':');
    auto bad = [&](const std::string& why) {
      return InvalidArgument(
          "csv layout '" + spec + "': '" + part + "' " + why +
          " (each column is name:type or name:type[n]; types int64, float, string)");
    };
    if (colon == std::string::npos || colon == 0) return bad("has no name:type");
    CsvColumn c;
    c.name = part.substr(0, colon);
    std::string type = part.substr(colon + 1);
    if (size_t open = type.find('['); open != std::string::npos) {
      if (type.back() != ']') return bad("has an unclosed [");
      const std::string n = type.substr(open + 1, type.size() - open - 2);
      size_t count = 0;
      auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
      if (ec != std::errc() || p != n.data() + n.size() || count == 0 || count > (1u << 24)) {
        return bad("has a count that is not a whole number from 1 to 16777216");
      }
      c.count = count;
      type = type.substr(0, open);
    }
    if (type == "int64") {
      c.type = CsvType::kInt64;
    } else if (type == "float") {
      c.type = CsvType::kFloat;
    } else if (type == "string") {
      c.type = CsvType::kString;
    } else {
      return bad("has an unknown type");
    }
    for (auto& other : columns)
      if (other.name == c.name) return bad("repeats the name '" + c.name + "'");
    columns.push_back(std::move(c));
    start = end + 1;
  }
  return CsvLayout(std::move(columns), delimiter);
}

std::string CsvLayout::ToSpec() const {
  std::string s;
  for (auto& c : columns_) {
    if (!s.empty()) s += ',';
    s += c.name + ':' + TypeName(c.type);
    if (c.count != 1) s += '[' + std::to_string(c.count) + ']';
  }
  return s;
}

Status CsvLayout::Decode(std::string_view line, Example* out) const {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  thread_local std::vector<std::string> fields;
  TOS_RETURN_IF_ERROR(SplitFields(line, delimiter_, &fields));
  if (fields.size() != num_fields_) {
    return DataLoss("csv line has " + std::to_string(fields.size()) + " fields; the layout " +
                    ToSpec() + " has " + std::to_string(num_fields_));
  }
  *out = Example();
  size_t f = 0;
  for (auto& c : columns_) {
    auto bad = [&](size_t k, const char* why) {
      return DataLoss("csv line: field " + std::to_string(f + k + 1) + " (column '" + c.name +
                      (c.count > 1 ? "[" + std::to_string(k) + "]" : "") + "', " +
                      TypeName(c.type) + "): '" + Shorten(fields[f + k]) + "' " + why);
    };
    if (c.type == CsvType::kString) {
      out->SetBytes(c.name,
                    std::vector<std::string>(fields.begin() + f, fields.begin() + f + c.count));
    } else if (c.type == CsvType::kInt64) {
      std::vector<int64_t> v(c.count);
      for (size_t k = 0; k < c.count; ++k) {
        const std::string& s = fields[f + k];
        auto [p, ec] = std::from_chars(SkipPlus(s), s.data() + s.size(), v[k]);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size())
          return bad(k, "is not an int64");
      }
      out->SetInt64s(c.name, std::move(v));
    } else {
      std::vector<float> v(c.count);
      for (size_t k = 0; k < c.count; ++k) {
        const std::string& s = fields[f + k];
        auto [p, ec] = std::from_chars(SkipPlus(s), s.data() + s.size(), v[k]);
        if (s.empty() || p != s.data() + s.size() ||
            (ec != std::errc() && ec != std::errc::result_out_of_range)) {
          return bad(k, "is not a float");
        }
        if (ec == std::errc::result_out_of_range && !FloatUnderflowsTo(s, &v[k]))
          return bad(k, "is too large for a float");
      }
      out->SetFloats(c.name, std::move(v));
    }
    f += c.count;
  }
  return Status::OK();
}

}  // namespace tos
