// A pickle decoder for data only (docs/formats.md, "pickle"): no code runs, unknown opcodes
// and callables are refused with their byte offset.
#include "tos/pickle.h"

#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace tos {
namespace {

size_t DtypeSize(const std::string& name) {  // "u1", "<f8", ... (byte order stripped)
  std::string n = name;
  if (!n.empty() && (n[0] == '<' || n[0] == '|' || n[0] == '=' || n[0] == '>')) n = n.substr(1);
  if (n == "u1" || n == "i1" || n == "b1") return 1;
  if (n == "u2" || n == "i2") return 2;
  if (n == "u4" || n == "i4" || n == "f4") return 4;
  if (n == "u8" || n == "i8" || n == "f8") return 8;
  return 0;
}

template <typename T>
T LoadLE(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

bool IsGlobal(const PickleRef& v, std::initializer_list<const char*> names) {
  if (!v || v->kind != PickleValue::kGlobal) return false;
  for (const char* n : names)
    if (v->s == n) return true;
  return false;
}

PickleRef Make(PickleValue::Kind kind) {
  auto v = std::make_shared<PickleValue>();
  v->kind = kind;
  return v;
}

class Unpickler {
 public:
  explicit Unpickler(std::string_view data) : d_(data) {}

  Result<PickleRef> Run() {
    for (;;) {
      if (pos_ >= d_.size()) return Err(pos_, "pickle ends without STOP");
      op_at_ = pos_;
      unsigned char op = static_cast<unsigned char>(d_[pos_++]);
      Status st = Step(op);
      if (!st.ok()) return st;
      if (stopped_) {
        if (stack_.size() != 1)
          return Err(op_at_, "STOP with " + std::to_string(stack_.size()) + " values on the stack");
        return stack_.back();
      }
    }
  }

 private:
  Status Err(size_t at, const std::string& what) {
    return DataLoss("byte " + std::to_string(at) + ": " + what);
  }

  Status Need(size_t n) {
    if (d_.size() - pos_ < n)
      return Err(op_at_, "truncated pickle (" + std::to_string(n) + " bytes needed, " +
                             std::to_string(d_.size() - pos_) + " left)");
    return Status::OK();
  }
  Result<uint64_t> ReadUint(size_t n) {
    TOS_RETURN_IF_ERROR(Need(n));
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k)
      v |= static_cast<uint64_t>(static_cast<unsigned char>(d_[pos_ + k])) << (8 * k);
    pos_ += n;
    return v;
  }
  Result<std::string> ReadBytes(uint64_t n) {
    if (n > d_.size() - pos_)
      return Err(op_at_,
                 "string of " + std::to_string(n) + " bytes runs past the end of the pickle");
    std::string s(d_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  Result<std::string> ReadLine() {
    size_t nl = d_.find('\n', pos_);
    if (nl == std::string_view::npos) return Err(op_at_, "unterminated GLOBAL");
    std::string s(d_.substr(pos_, nl - pos_));
    pos_ = nl + 1;
    return s;
  }
  Result<PickleRef> Pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
      return Err(op_at_, "stack underflow");
    PickleRef v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Result<std::vector<PickleRef>> PopMark() {
    if (marks_.empty()) return Err(op_at_, "no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  void Push(PickleRef v) { stack_.push_back(std::move(v)); }
  Status PushInt(int64_t v) {
    auto r = Make(PickleValue::kInt);
    r->i = v;
    Push(r);
    return Status::OK();
  }
  Status PushBytes(PickleValue::Kind kind, uint64_t n) {
    TOS_ASSIGN_OR_RETURN(std::string s, ReadBytes(n));
    auto r = Make(kind);
    r->s = std::move(s);
    Push(r);
    return Status::OK();
  }
  Status Tuple(std::vector<PickleRef> items) {
    auto t = Make(PickleValue::kTuple);
    t->items = std::move(items);
    Push(t);
    return Status::OK();
  }
  Status TupleN(size_t n) {
    if (stack_.size() < n || (!marks_.empty() && stack_.size() - n < marks_.back()))
      return Err(op_at_, "stack underflow");
    std::vector<PickleRef> items(stack_.end() - n, stack_.end());
    stack_.resize(stack_.size() - n);
    return Tuple(std::move(items));
  }
  Status Memo(uint64_t key) {
    if (stack_.empty()) return Err(op_at_, "memoize on an empty stack");
    memo_[key] = stack_.back();
    return Status::OK();
  }
  Status Get(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end())
      return Err(op_at_, "memo key " + std::to_string(key) + " is not defined");
    if (it->second->kind == PickleValue::kList || it->second->kind == PickleValue::kTuple)
      aliased_ = true;
    Push(it->second);
    return Status::OK();
  }

  // Refuses to append `items` to `list` if that would make the list reachable from itself:
  // shared_ptrs in a cycle are never freed (and consumers walking the value would not end).
  // Without a memo GET of a container every value is a tree whose root is on the stack, so
  // only pickles that share containers pay for the search.
  Status CheckNoCycle(const PickleValue* list, const PickleRef* items, size_t n) {
    if (!aliased_) return Status::OK();
    std::unordered_set<const PickleValue*> seen;
    std::vector<const PickleValue*> todo;
    for (size_t k = 0; k < n; ++k) todo.push_back(items[k].get());
    while (!todo.empty()) {
      const PickleValue* v = todo.back();
      todo.pop_back();
      if (v == list)
        return Err(
            op_at_,
            "appending would make a list contain itself (reference cycles are not supported)");
      if (v->items.empty() || !seen.insert(v).second) continue;
      for (const auto& c : v->items) todo.push_back(c.get());
    }
    return Status::OK();
  }

  Status Step(unsigned char op) {
    switch (op) {
      case 0x80: {  // PROTO
        TOS_ASSIGN_OR_RETURN(uint64_t p, ReadUint(1));
        if (p < 2 || p > 5)
          return Err(op_at_, "pickle protocol " + std::to_string(p) + " (2 to 5 are supported)");
        return Status::OK();
      }
      case 0x95:  // FRAME
        return ReadUint(8).status();
      case '.':
        stopped_ = true;
        return Status::OK();
      case '(':
        marks_.push_back(stack_.size());
        return Status::OK();
      case ']':
        Push(Make(PickleValue::kList));
        return Status::OK();
      case ')':
        return Tuple({});
      case 'l': {
        TOS_ASSIGN_OR_RETURN(auto items, PopMark());
        auto l = Make(PickleValue::kList);
        l->items = std::move(items);
        Push(l);
        return Status::OK();
      }
      case 't': {
        TOS_ASSIGN_OR_RETURN(auto items, PopMark());
        return Tuple(std::move(items));
      }
      case 0x85:
        return TupleN(1);
      case 0x86:
        return TupleN(2);
      case 0x87:
        return TupleN(3);
      case 'a': {
        TOS_ASSIGN_OR_RETURN(PickleRef v, Pop());
        if (stack_.empty() || stack_.back()->kind != PickleValue::kList)
          return Err(op_at_, "APPEND to something that is not a list");
        TOS_RETURN_IF_ERROR(CheckNoCycle(stack_.back().get(), &v, 1));
        stack_.back()->items.push_back(std::move(v));
        return Status::OK();
      }
      case 'e': {
        TOS_ASSIGN_OR_RETURN(auto items, PopMark());
        if (stack_.empty() || stack_.back()->kind != PickleValue::kList)
          return Err(op_at_, "APPENDS to something that is not a list");
        TOS_RETURN_IF_ERROR(CheckNoCycle(stack_.back().get(), items.data(), items.size()));
        auto& dst = stack_.back()->items;
        dst.insert(dst.end(), items.begin(), items.end());
        return Status::OK();
      }
      case 'N':
        Push(Make(PickleValue::kNone));
        return Status::OK();
      case 0x88:
      case 0x89: {
        auto b = Make(PickleValue::kBool);
        b->i = op == 0x88;
        Push(b);
        return Status::OK();
      }
      case 'J': {
        TOS_ASSIGN_OR_RETURN(uint64_t v, ReadUint(4));
        return PushInt(static_cast<int32_t>(static_cast<uint32_t>(v)));
      }
      case 'K': {
        TOS_ASSIGN_OR_RETURN(uint64_t v, ReadUint(1));
        return PushInt(static_cast<int64_t>(v));
      }
      case 'M': {
        TOS_ASSIGN_OR_RETURN(uint64_t v, ReadUint(2));
        return PushInt(static_cast<int64_t>(v));
      }
      case 0x8a: {  // LONG1
        TOS_ASSIGN_OR_RETURN(uint64_t n, ReadUint(1));
        if (n > 8)
          return Err(op_at_, "integer of " + std::to_string(n) + " bytes does not fit 64 bits");
        TOS_ASSIGN_OR_RETURN(uint64_t v, ReadUint(n));
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        return PushInt(static_cast<int64_t>(v));
      }
      case 'G': {
        TOS_RETURN_IF_ERROR(Need(8));
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(d_[pos_ + k]);
        pos_ += 8;
        auto f = Make(PickleValue::kFloat);
        std::memcpy(&f->f, &bits, 8);
        Push(f);
        return Status::OK();
      }
      case 0x8c: {
        TOS_ASSIGN_OR_RETURN(uint64_t n, ReadUint(1));
        return PushBytes(PickleValue::kString, n);
      }
      case 'X': {
        TOS_ASSIGN_OR_RETURN(uint64_t n, ReadUint(4));
        return PushBytes(PickleValue::kString, n);
      }
      case 0x8d: {
        TOS_ASSIGN_OR_RETURN(uint64_t n, ReadUint(8));
        return PushBytes(PickleValue::kString, n);
      }
      case 'C': {
        TOS_ASSIGN_OR_RETURN(uint64_t n, ReadUint(1));
        return PushBytes(PickleValue::kBytes, n);
      }
      case 'B': {
        TOS_ASSIGN_OR_RETURN(uint64_t n, ReadUint(4));
        return PushBytes(PickleValue::kBytes, n);
      }
      case 0x8e:
      case 0x96: {  // BINBYTES8, BYTEARRAY8
        TOS_ASSIGN_OR_RETURN(uint64_t n, ReadUint(8));
        return PushBytes(PickleValue::kBytes, n);
      }
      case 0x94:
        return Memo(memo_.size());
      case 'q': {
        TOS_ASSIGN_OR_RETURN(uint64_t k, ReadUint(1));
        return Memo(k);
      }
      case 'r': {
        TOS_ASSIGN_OR_RETURN(uint64_t k, ReadUint(4));
        return Memo(k);
      }
      case 'h': {
        TOS_ASSIGN_OR_RETURN(uint64_t k, ReadUint(1));
        return Get(k);
      }
      case 'j': {
        TOS_ASSIGN_OR_RETURN(uint64_t k, ReadUint(4));
        return Get(k);
      }
      case 'c': {
        TOS_ASSIGN_OR_RETURN(std::string module, ReadLine());
        TOS_ASSIGN_OR_RETURN(std::string name, ReadLine());
        auto g = Make(PickleValue::kGlobal);
        g->s = module + "." + name;
        Push(g);
        return Status::OK();
      }
      case 0x93: {
        TOS_ASSIGN_OR_RETURN(PickleRef name, Pop());
        TOS_ASSIGN_OR_RETURN(PickleRef module, Pop());
        if (name->kind != PickleValue::kString || module->kind != PickleValue::kString)
          return Err(op_at_, "STACK_GLOBAL of non-strings");
        auto g = Make(PickleValue::kGlobal);
        g->s = module->s + "." + name->s;
        Push(g);
        return Status::OK();
      }
      case 'R': {
        TOS_ASSIGN_OR_RETURN(PickleRef args, Pop());
        TOS_ASSIGN_OR_RETURN(PickleRef fn, Pop());
        TOS_ASSIGN_OR_RETURN(PickleRef r, Call(fn, args));
        Push(r);
        return Status::OK();
      }
      case 'b': {
        TOS_ASSIGN_OR_RETURN(PickleRef state, Pop());
        if (stack_.empty()) return Err(op_at_, "BUILD on an empty stack");
        return Build(stack_.back(), state);
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", op);
        return Err(
            op_at_,
            std::string("unsupported pickle opcode ") + hex +
                (op >= 0x20 && op < 0x7f ? std::string(" ('") + static_cast<char>(op) + "')" : "") +
                "; only numbers, strings, bytes, lists, tuples and numpy arrays are decoded");
      }
    }
  }

  Result<std::string> DtypeOf(const PickleRef& v) {
    if (v->kind != PickleValue::kDtype)
      return Err(op_at_, "expected a numpy dtype, got " + v->Describe());
    if (!v->s.empty() && v->s[0] == '>' && DtypeSize(v->s) > 1)
      return Err(op_at_, "big-endian numpy dtype " + v->s + " is not supported");
    if (DtypeSize(v->s) == 0)
      return Err(op_at_,
                 "numpy dtype '" + v->s +
                     "' is not supported (bool, int8..int64, uint8..uint64, float32, float64 are)");
    return v->s;
  }

  Status SetShape(PickleValue* a, const PickleRef& shape) {
    if (shape->kind != PickleValue::kTuple) return Err(op_at_, "array shape is not a tuple");
    a->shape.clear();
    for (auto& d : shape->items) {
      if (d->kind != PickleValue::kInt || d->i < 0)
        return Err(op_at_, "array shape holds a non-integer");
      a->shape.push_back(d->i);
    }
    return Status::OK();
  }

  Status CheckArray(const PickleValue& a) {
    // The element count may not wrap: shape (2^32, 2^32) would otherwise "need" 0 bytes.
    uint64_t want = DtypeSize(a.dtype);
    for (int64_t d : a.shape)
      if (d == 0) want = 0;
    for (int64_t d : a.shape) {
      if (want != 0 && want > d_.size() / static_cast<uint64_t>(d)) {
        return Err(op_at_, "array of shape " + a.Describe() + " is larger than the whole pickle");
      }
      want *= static_cast<uint64_t>(d);
    }
    if (a.data.size() != want) {
      return Err(op_at_, "array of shape " + a.Describe() + " needs " + std::to_string(want) +
                             " bytes of data, has " + std::to_string(a.data.size()));
    }
    return Status::OK();
  }

  Result<PickleRef> Call(const PickleRef& fn, const PickleRef& args) {
    if (args->kind != PickleValue::kTuple) return Err(op_at_, "REDUCE arguments are not a tuple");
    const auto& a = args->items;
    if (IsGlobal(fn,
                 {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"})) {
      auto arr = Make(PickleValue::kArray);
      arr->dtype = "?";
      return arr;
    }
    if (IsGlobal(fn, {"numpy.dtype"})) {
      if (a.empty() || a[0]->kind != PickleValue::kString)
        return Err(op_at_, "numpy.dtype() without a type name");
      auto d = Make(PickleValue::kDtype);
      d->s = (DtypeSize(a[0]->s) == 1 ? "|" : "<") + a[0]->s;
      return d;
    }
    if (IsGlobal(fn, {"numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer"})) {
      if (a.size() != 4 || a[0]->kind != PickleValue::kBytes)
        return Err(op_at_, "numpy _frombuffer with unexpected arguments");
      auto arr = Make(PickleValue::kArray);
      TOS_ASSIGN_OR_RETURN(arr->dtype, DtypeOf(a[1]));
      TOS_RETURN_IF_ERROR(SetShape(arr.get(), a[2]));
      if (a[3]->kind == PickleValue::kString && a[3]->s == "F" && arr->shape.size() > 1) {
        return Err(op_at_, "Fortran-ordered arrays of more than one dimension are not supported");
      }
      arr->data = a[0]->s;
      TOS_RETURN_IF_ERROR(CheckArray(*arr));
      return arr;
    }
    if (IsGlobal(fn, {"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"})) {
      if (a.size() != 2 || a[1]->kind != PickleValue::kBytes)
        return Err(op_at_, "numpy scalar with unexpected arguments");
      PickleValue arr;
      arr.kind = PickleValue::kArray;
      TOS_ASSIGN_OR_RETURN(arr.dtype, DtypeOf(a[0]));
      arr.data = a[1]->s;
      TOS_RETURN_IF_ERROR(CheckArray(arr));
      char k = arr.dtype[1];
      auto r = Make(k == 'f'   ? PickleValue::kFloat
                    : k == 'b' ? PickleValue::kBool
                               : PickleValue::kInt);
      if (k == 'f') {
        r->f = arr.NumericAt(0);
        return r;
      }
      // Integers exactly, not through a double (which rounds above 2^53 and cannot hold 2^63).
      const size_t n = arr.data.size();
      uint64_t v = 0;
      for (size_t b = 0; b < n; ++b)
        v |= static_cast<uint64_t>(static_cast<unsigned char>(arr.data[b])) << (8 * b);
      if (k == 'i' && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
      if (k == 'u' && v > static_cast<uint64_t>(INT64_MAX))
        return Err(op_at_, "numpy uint64 scalar " + std::to_string(v) +
                               " does not fit 64-bit signed integers");
      r->i = static_cast<int64_t>(v);
      return r;
    }
    if (IsGlobal(fn, {"_codecs.encode"})) {  // protocol 2 bytes: encode(str, "latin1")
      if (a.size() != 2 || a[0]->kind != PickleValue::kString)
        return Err(op_at_, "_codecs.encode with unexpected arguments");
      auto b = Make(PickleValue::kBytes);
      const std::string& u = a[0]->s;  // UTF-8 of code points < 256
      for (size_t k = 0; k < u.size(); ++k) {
        unsigned char c = static_cast<unsigned char>(u[k]);
        if (c < 0x80) {
          b->s.push_back(static_cast<char>(c));
        } else if ((c & 0xE0) == 0xC0 && k + 1 < u.size() && c <= 0xC3) {
          b->s.push_back(
              static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(u[++k]) & 0x3F)));
        } else {
          return Err(op_at_, "_codecs.encode of a string that is not latin-1");
        }
      }
      return b;
    }
    return Err(op_at_, "refusing to call " +
                           (fn->kind == PickleValue::kGlobal ? fn->s : fn->Describe()) +
                           "; only numpy arrays, dtypes and scalars are reconstructed");
  }

  Status Build(const PickleRef& obj, const PickleRef& state) {
    if (obj->kind == PickleValue::kDtype) {
      if (state->kind != PickleValue::kTuple || state->items.size() < 2 ||
          state->items[1]->kind != PickleValue::kString) {
        return Err(op_at_, "numpy dtype state is not (version, byteorder, ...)");
      }
      for (size_t k = 2; k < 5 && k < state->items.size(); ++k) {
        if (state->items[k]->kind != PickleValue::kNone)
          return Err(op_at_, "structured or sub-array numpy dtypes are not supported");
      }
      std::string order = state->items[1]->s;
      if (order != "<" && order != ">" && order != "|" && order != "=") {
        return Err(op_at_,
                   "numpy dtype byte order '" + order.substr(0, 8) + "' is not one of <, >, |, =");
      }
      if (order == "=") order = DtypeSize(obj->s) == 1 ? "|" : "<";
      obj->s = order + obj->s.substr(1);
      return Status::OK();
    }
    if (obj->kind == PickleValue::kArray && obj->dtype == "?") {
      if (state->kind != PickleValue::kTuple ||
          (state->items.size() != 4 && state->items.size() != 5)) {
        return Err(op_at_, "numpy array state is not (version, shape, dtype, is_fortran, data)");
      }
      const auto& s = state->items;
      size_t b = s.size() == 5 ? 1 : 0;
      TOS_RETURN_IF_ERROR(SetShape(obj.get(), s[b]));
      TOS_ASSIGN_OR_RETURN(obj->dtype, DtypeOf(s[b + 1]));
      if (s[b + 2]->kind == PickleValue::kBool && s[b + 2]->i && obj->shape.size() > 1) {
        return Err(op_at_, "Fortran-ordered arrays of more than one dimension are not supported");
      }
      if (s[b + 3]->kind != PickleValue::kBytes)
        return Err(op_at_, "numpy array data is a " + s[b + 3]->Describe() +
                               " (object arrays are not supported)");
      obj->data = s[b + 3]->s;
      return CheckArray(*obj);
    }
    return Err(op_at_, "BUILD of a " + obj->Describe() + " is not supported");
  }

  std::string_view d_;
  size_t pos_ = 0;
  size_t op_at_ = 0;
  bool stopped_ = false;
  bool aliased_ = false;  // a memo GET pushed a list or tuple that may be referenced elsewhere
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleRef> memo_;
};

// Appends a string literal whole, NUL bytes included.
template <size_t N>
void Lit(std::string* out, const char (&s)[N]) {
  out->append(s, N - 1);
}

void PutLE(std::string* out, uint64_t v, int n) {
  for (int k = 0; k < n; ++k) out->push_back(static_cast<char>(v >> (8 * k)));
}

void AppendInt(std::string* out, int64_t v) {
  if (v >= 0 && v < 256) {
    out->push_back('K');
    out->push_back(static_cast<char>(v));
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    out->push_back('J');
    PutLE(out, static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
  } else {
    out->push_back('\x8a');
    out->push_back(8);
    PutLE(out, static_cast<uint64_t>(v), 8);
  }
}

void AppendShortString(std::string* out, const std::string& s) {
  out->push_back('\x8c');
  out->push_back(static_cast<char>(s.size()));
  *out += s;
}

}  // namespace

// Nested values are freed with an explicit work list: a pickle of a few bytes per level (a
// tuple of a tuple of ...) must not overflow the stack through recursive destructors.
PickleValue::~PickleValue() {
  std::vector<PickleRef> pending;
  for (auto& c : items)
    if (c.use_count() == 1) pending.push_back(std::move(c));
  while (!pending.empty()) {
    PickleRef v = std::move(pending.back());
    pending.pop_back();
    for (auto& c : v->items)
      if (c.use_count() == 1) pending.push_back(std::move(c));
    v->items.clear();  // only children shared elsewhere are left: they do not free here
  }
}

bool PickleValue::IsNumeric() const {
  switch (kind) {
    case kBool:
    case kInt:
    case kFloat:
      return true;
    case kArray:
      return dtype != "?";
    case kList:
    case kTuple:
      for (auto& v : items)
        if (v->kind != kBool && v->kind != kInt && v->kind != kFloat) return false;
      return true;
    default:
      return false;
  }
}

size_t PickleValue::NumericSize() const {
  if (kind == kArray) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    return n;
  }
  if (kind == kList || kind == kTuple) return items.size();
  return 1;
}

double PickleValue::NumericAt(size_t k) const {
  switch (kind) {
    case kBool:
    case kInt:
      return static_cast<double>(i);
    case kFloat:
      return f;
    case kList:
    case kTuple:
      return items[k]->kind == kFloat ? items[k]->f : static_cast<double>(items[k]->i);
    case kArray: {
      const char* p = data.data() + k * DtypeSize(dtype);
      const std::string t = dtype.substr(1);
      if (t == "u1" || t == "b1") return static_cast<unsigned char>(*p);
      if (t == "i1") return static_cast<signed char>(*p);
      if (t == "u2") return LoadLE<uint16_t>(p);
      if (t == "i2") return LoadLE<int16_t>(p);
      if (t == "u4") return LoadLE<uint32_t>(p);
      if (t == "i4") return LoadLE<int32_t>(p);
      if (t == "u8") return static_cast<double>(LoadLE<uint64_t>(p));
      if (t == "i8") return static_cast<double>(LoadLE<int64_t>(p));
      if (t == "f4") return LoadLE<float>(p);
      if (t == "f8") return LoadLE<double>(p);
      return 0;
    }
    default:
      return 0;
  }
}

std::string PickleValue::Describe() const {
  switch (kind) {
    case kNone:
      return "None";
    case kBool:
      return "bool";
    case kInt:
      return "int";
    case kFloat:
      return "float";
    case kString:
      return "str";
    case kBytes:
      return "bytes";
    case kList:
      return "list of " + std::to_string(items.size());
    case kTuple:
      return "tuple of " + std::to_string(items.size());
    case kGlobal:
      return "global " + s;
    case kDtype:
      return "dtype " + s;
    case kArray: {
      std::string r = "ndarray " + dtype + " (";
      for (size_t k = 0; k < shape.size(); ++k)
        r += std::to_string(shape[k]) + (shape.size() == 1 || k + 1 < shape.size() ? "," : "");
      return r + ")";
    }
  }
  return "?";
}

Result<PickleRef> ParsePickle(std::string_view data) { return Unpickler(data).Run(); }

std::string PickleBatch(const std::vector<std::string>& elements) {
  std::string out = "\x80\x04]";
  if (!elements.empty()) {
    out.push_back('(');
    for (auto& e : elements) out += e;
    out.push_back('e');
  }
  out.push_back('.');
  return out;
}

void AppendPickledArray(std::string* out, PickleDtype dtype, const void* data, size_t count) {
  const char* name = "u1";
  size_t size = 1;
  switch (dtype) {
    case PickleDtype::kUint8:
      name = "u1";
      size = 1;
      break;
    case PickleDtype::kInt64:
      name = "i8";
      size = 8;
      break;
    case PickleDtype::kFloat32:
      name = "f4";
      size = 4;
      break;
    case PickleDtype::kFloat64:
      name = "f8";
      size = 8;
      break;
  }
  // numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b') then
  // BUILD (1, (count,), dtype, False, data): what numpy's __reduce__ gives, loadable by
  // numpy 1.x and 2.x.
  Lit(out,
      "cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
      "C\x01"
      "b\x87R(K\x01");
  AppendInt(out, static_cast<int64_t>(count));
  Lit(out,
      "\x85"
      "cnumpy\ndtype\n");
  AppendShortString(out, name);
  Lit(out, "\x89\x88\x87R(K\x03");
  AppendShortString(out, size == 1 ? "|" : "<");
  Lit(out, "NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89");
  uint64_t bytes = static_cast<uint64_t>(count) * size;
  if (bytes < (1ull << 32)) {
    out->push_back('B');
    PutLE(out, bytes, 4);
  } else {
    out->push_back('\x8e');
    PutLE(out, bytes, 8);
  }
  out->append(static_cast<const char*>(data), bytes);
  *out += "tb";
}

void AppendPickledIntList(std::string* out, const int64_t* values, size_t count) {
  *out += "](";
  for (size_t k = 0; k < count; ++k) AppendInt(out, values[k]);
  out->push_back('e');
}

void AppendPickledFloatList(std::string* out, const double* values, size_t count) {
  *out += "](";
  for (size_t k = 0; k < count; ++k) {
    uint64_t bits;
    std::memcpy(&bits, &values[k], 8);
    out->push_back('G');
    for (int b = 7; b >= 0; --b) out->push_back(static_cast<char>(bits >> (8 * b)));
  }
  out->push_back('e');
}

}  // namespace tos
