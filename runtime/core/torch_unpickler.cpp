// The restricted pickle VM (see torch_unpickler.h). Opcode values are those of
// CPython's pickle protocol (Lib/pickletools.py documents them).
//
// Safety rules beyond the whitelist of globals:
//  - a container is sealed once it is stored in another one; changing a
//    sealed container, or storing one in itself, is refused, so the value
//    tree never has a cycle (a "recursive memo");
//  - nesting depth, value count, stack, memo and string sizes are capped;
//  - the elements of all tensors together may not exceed 16 times the
//    elements of their storages (a "pickle bomb" of views);
//  - every tensor's furthest element must lie inside its storage.
#include "runtime/core/torch_unpickler.h"

#include <cstring>
#include <limits>
#include <unordered_map>

#include "runtime/core/error.h"

namespace wl {

size_t storage_type_size(StorageType t) {
  switch (t) {
    case StorageType::F32: case StorageType::I32: return 4;
    case StorageType::BF16: case StorageType::F16: return 2;
    case StorageType::F64: case StorageType::I64: return 8;
    case StorageType::U8: case StorageType::Bool: return 1;
  }
  return 1;
}

const char* storage_type_name(StorageType t) {
  switch (t) {
    case StorageType::F32: return "F32";
    case StorageType::BF16: return "BF16";
    case StorageType::F16: return "F16";
    case StorageType::F64: return "F64";
    case StorageType::I64: return "I64";
    case StorageType::I32: return "I32";
    case StorageType::U8: return "U8";
    case StorageType::Bool: return "BOOL";
  }
  return "?";
}

int64_t PickledTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool PickledTensor::contiguous() const {
  int64_t expected = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    if (shape[k] != 1 && strides[k] != expected) return false;
    expected *= shape[k];
  }
  return true;
}

const PickleValue* PickleValue::find(const std::string& key) const {
  auto it = string_keys.find(key);
  return it == string_keys.end() ? nullptr : entries[it->second].second.get();
}

namespace {

using Kind = PickleValue::Kind;
constexpr int kMaxDepth = 200;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Tensor: return "tensor";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
  }
  return "?";
}

struct StorageClass {
  const char* name;
  StorageType type;
};
constexpr StorageClass kStorageClasses[] = {
    {"FloatStorage", StorageType::F32}, {"BFloat16Storage", StorageType::BF16}, {"HalfStorage", StorageType::F16},
    {"DoubleStorage", StorageType::F64}, {"LongStorage", StorageType::I64},     {"IntStorage", StorageType::I32},
    {"ByteStorage", StorageType::U8},    {"BoolStorage", StorageType::Bool}};

bool allowed_global(const std::string& module, const std::string& name) {
  if (module == "collections" && name == "OrderedDict") return true;
  if (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter")) return true;
  if (module == "torch._tensor" && name == "_rebuild_from_type_v2") return true;
  if (module == "torch" && name == "Tensor") return true;
  if (module == "torch")
    for (const StorageClass& s : kStorageClasses)
      if (name == s.name) return true;
  return false;
}

class Machine {
 public:
  Machine(const std::string& label, const uint8_t* data, size_t size, const StorageResolver& resolve,
          const UnpickleLimits& limits)
      : label_(label), p_(data), size_(size), resolve_(resolve), limits_(limits) {}

  PickleRef run();

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(label_ + ": " + problem + " (at byte " + std::to_string(op_at_) + ")");
  }
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) fail("pickle ends in the middle of an opcode (truncated?)");
    const uint8_t* at = p_ + pos_;
    pos_ += n;
    return at;
  }
  uint64_t le(uint64_t n) {
    const uint8_t* b = take(n);
    uint64_t v = 0;
    for (uint64_t i = n; i-- > 0;) v = v << 8 | b[i];
    return v;
  }
  std::string line() {
    std::string s;
    while (true) {
      const char c = static_cast<char>(*take(1));
      if (c == '\n') return s;
      if (s.size() >= 256) fail("GLOBAL name longer than 256 bytes");
      s += c;
    }
  }
  PickleRef make(Kind k) {
    if (++objects_ > limits_.max_objects)
      fail("more than " + std::to_string(limits_.max_objects) + " objects (a pickle bomb?)");
    auto v = std::make_shared<PickleValue>();
    v->kind = k;
    return v;
  }
  void push(PickleRef v) {
    if (stack_.size() >= limits_.max_stack) fail("stack deeper than " + std::to_string(limits_.max_stack));
    stack_.push_back(std::move(v));
  }
  PickleRef pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    PickleRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PickleRef& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<PickleRef> pop_to_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                                 std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  std::string text(uint64_t n) {
    if (n > limits_.max_string_bytes) fail("string of " + std::to_string(n) + " bytes exceeds the limit");
    const uint8_t* b = take(n);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
  // Stores `child` in `parent`: parent must be open, child becomes sealed.
  void adopt(PickleValue& parent, const PickleRef& child) {
    if (sealed(parent)) fail(std::string("a ") + kind_name(parent.kind) +
                             " is changed after being stored in another object (recursive structure)");
    if (child.get() == &parent) fail(std::string("a ") + kind_name(parent.kind) + " is stored inside itself (recursive memo)");
    seal(child.get());
    const int d = depth(child.get()) + 1;
    if (d > kMaxDepth) fail("objects nested deeper than " + std::to_string(kMaxDepth));
    if (d > depth(&parent)) parent.depth = static_cast<uint16_t>(d);
  }
  static bool sealed(const PickleValue& v) { return v.sealed; }
  static void seal(PickleValue* v) { v->sealed = true; }
  static int depth(const PickleValue* v) { return v->depth; }
  PickleRef tuple(std::vector<PickleRef> items) {
    PickleRef t = make(Kind::Tuple);
    for (const PickleRef& i : items) adopt(*t, i);
    t->items = std::move(items);
    return t;
  }
  void set_item(PickleValue& dict, PickleRef key, PickleRef value) {
    if (dict.kind != Kind::Dict) fail(std::string("SETITEM on a ") + kind_name(dict.kind) + ", expected a dict");
    adopt(dict, key);
    adopt(dict, value);
    if (key->kind == Kind::String) {
      auto [it, inserted] = dict.string_keys.emplace(key->text, dict.entries.size());
      if (!inserted) {
        dict.entries[it->second].second = std::move(value);
        return;
      }
    }
    dict.entries.emplace_back(std::move(key), std::move(value));
  }
  void append(PickleValue& list, PickleRef value) {
    if (list.kind != Kind::List) fail(std::string("APPEND to a ") + kind_name(list.kind) + ", expected a list");
    adopt(list, value);
    list.items.push_back(std::move(value));
  }
  void memo_put(uint64_t index) {
    if (memo_.size() >= limits_.max_memo && !memo_.count(index)) fail("memo holds more than " + std::to_string(limits_.max_memo) + " objects");
    memo_[index] = top();
  }
  PickleRef memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo index " + std::to_string(index) + " read before it was written");
    return it->second;
  }
  PickleRef global(const std::string& module, const std::string& name) {
    if (!allowed_global(module, name))
      fail("forbidden global '" + module + "." + name +
           "' (a checkpoint may only name OrderedDict, torch storages and torch's tensor rebuild functions; "
           "it is refused, never run)");
    PickleRef g = make(Kind::Global);
    g->text = module + "." + name;
    return g;
  }
  PickleRef persistent_load(const PickleRef& pid);
  PickleRef reduce(const PickleRef& callable, const PickleRef& args);
  PickleRef rebuild_tensor(const std::vector<PickleRef>& a);

  std::string label_;
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0, op_at_ = 0;
  const StorageResolver& resolve_;
  UnpickleLimits limits_;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleRef> memo_;
  uint64_t objects_ = 0;
  uint64_t tensor_elements_ = 0, storage_elements_ = 0;
};

int64_t as_int(const PickleValue& v, const char* what, const std::function<void(const std::string&)>& fail) {
  if (v.kind == Kind::Int) return v.integer;
  if (v.kind == Kind::Bool) return v.boolean;
  fail(std::string(what) + " is a " + kind_name(v.kind) + ", expected an int");
  return 0;
}

PickleRef Machine::persistent_load(const PickleRef& pid) {
  if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::String ||
      pid->items[0]->text != "storage")
    fail("persistent id is not ('storage', class, key, location, numel)");
  const PickleValue& cls = *pid->items[1];
  const PickleValue& key = *pid->items[2];
  const PickleValue& count = *pid->items[4];
  if (cls.kind != Kind::Global) fail("persistent id names no storage class");
  const StorageClass* sc = nullptr;
  for (const StorageClass& s : kStorageClasses)
    if (cls.text == std::string("torch.") + s.name) sc = &s;
  if (!sc) fail("persistent id names '" + cls.text + "', not a torch storage class");
  if (key.kind != Kind::String) fail("persistent id key is not a string");
  if (count.kind != Kind::Int || count.integer < 0) fail("storage '" + key.text + "' has a bad element count");
  const int64_t numel = count.integer;
  StorageBytes bytes = resolve_(key.text, sc->type, numel);
  uint64_t needed = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), storage_type_size(sc->type), &needed) || needed > bytes.size)
    fail("storage '" + key.text + "' declares " + std::to_string(numel) + " " + storage_type_name(sc->type) +
         " elements but its entry holds " + std::to_string(bytes.size) + " bytes");
  PickleRef s = make(Kind::Storage);
  s->tensor.dtype = sc->type;
  s->tensor.storage_key = key.text;
  s->tensor.storage_numel = numel;
  s->tensor.storage = bytes.data;
  storage_elements_ += static_cast<uint64_t>(numel);
  return s;
}

PickleRef Machine::rebuild_tensor(const std::vector<PickleRef>& a) {
  auto bad = [this](const std::string& m) { fail("_rebuild_tensor_v2: " + m); };
  if (a.size() < 4 || a.size() > 7) bad("takes 4 to 7 arguments, got " + std::to_string(a.size()));
  if (a[0]->kind != Kind::Storage) bad(std::string("first argument is a ") + kind_name(a[0]->kind) + ", expected a storage");
  if (a[2]->kind != Kind::Tuple || a[3]->kind != Kind::Tuple) bad("size and stride must be tuples");
  if (a[2]->items.size() != a[3]->items.size())
    bad("size has " + std::to_string(a[2]->items.size()) + " dimensions but stride " + std::to_string(a[3]->items.size()));
  PickleRef t = make(Kind::Tensor);
  PickledTensor& pt = t->tensor;
  pt = a[0]->tensor;
  pt.offset = as_int(*a[1], "storage offset", bad);
  if (pt.offset < 0) bad("negative storage offset");
  uint64_t numel = 1, last = static_cast<uint64_t>(pt.offset);
  bool empty = false;
  for (size_t k = 0; k < a[2]->items.size(); ++k) {
    const int64_t n = as_int(*a[2]->items[k], "a size", bad);
    const int64_t s = as_int(*a[3]->items[k], "a stride", bad);
    if (n < 0 || s < 0) bad("negative size or stride");
    pt.shape.push_back(n);
    pt.strides.push_back(s);
    if (n == 0) empty = true;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(n), &numel) || numel > (uint64_t{1} << 62)) bad("too many elements");
    uint64_t reach = 0;
    if (n > 0 && (__builtin_mul_overflow(static_cast<uint64_t>(n - 1), static_cast<uint64_t>(s), &reach) ||
                  __builtin_add_overflow(last, reach, &last)))
      bad("strides reach past 2^64 elements");
  }
  if (empty) numel = 0;
  const uint64_t have = static_cast<uint64_t>(pt.storage_numel);
  if (numel > 0 && last >= have)
    bad("tensor of shape " + std::to_string(pt.shape.size()) + "-d with offset " + std::to_string(pt.offset) +
        " reaches element " + std::to_string(last) + " but storage '" + pt.storage_key + "' holds only " +
        std::to_string(have) + " elements (storage shorter than its tensor)");
  if (numel == 0 && static_cast<uint64_t>(pt.offset) > have) bad("storage offset past the end of its storage");
  tensor_elements_ += numel;
  if (tensor_elements_ > 16 * storage_elements_ + (uint64_t{1} << 20))
    fail("tensors view " + std::to_string(tensor_elements_) + " elements of storages holding " +
         std::to_string(storage_elements_) + " (a pickle bomb?)");
  return t;
}

PickleRef Machine::reduce(const PickleRef& callable, const PickleRef& args) {
  if (callable->kind != Kind::Global)
    fail(std::string("REDUCE calls a ") + kind_name(callable->kind) + ", not an allowed global");
  if (args->kind != Kind::Tuple) fail("REDUCE arguments are not a tuple");
  const std::string& f = callable->text;
  const std::vector<PickleRef>& a = args->items;
  if (f == "collections.OrderedDict") {
    if (!a.empty()) fail("OrderedDict called with arguments");
    return make(Kind::Dict);
  }
  if (f == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(a);
  if (f == "torch._utils._rebuild_parameter") {
    if (a.size() < 2 || a.size() > 3 || a[0]->kind != Kind::Tensor) fail("_rebuild_parameter: expected (tensor, requires_grad, hooks)");
    return a[0];
  }
  if (f == "torch._tensor._rebuild_from_type_v2") {
    if (a.size() != 4) fail("_rebuild_from_type_v2: expected (func, type, args, state)");
    if (a[0]->kind != Kind::Global || a[0]->text != "torch._utils._rebuild_tensor_v2")
      fail("_rebuild_from_type_v2: func must be torch._utils._rebuild_tensor_v2");
    if (a[1]->kind != Kind::Global || a[1]->text != "torch.Tensor")
      fail("_rebuild_from_type_v2: type must be torch.Tensor");
    return reduce(a[0], a[2]);
  }
  fail("global '" + f + "' cannot be called");
}

PickleRef Machine::run() {
  while (true) {
    op_at_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t v = *take(1);
        if (v > 5) fail("pickle protocol " + std::to_string(v) + " is newer than 5");
        break;
      }
      case 0x95: take(8); break;  // FRAME: framing only
      case '.': {                 // STOP
        PickleRef result = pop();
        return result;
      }
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '}': push(make(Kind::Dict)); break;
      case ']': push(make(Kind::List)); break;
      case ')': push(make(Kind::Tuple)); break;
      case 'N': push(make(Kind::None)); break;
      case 0x88: case 0x89: {
        PickleRef b = make(Kind::Bool);
        b->boolean = op == 0x88;
        push(b);
        break;
      }
      case 'K': case 'M': case 'J': {
        PickleRef i = make(Kind::Int);
        if (op == 'K') i->integer = static_cast<int64_t>(le(1));
        else if (op == 'M') i->integer = static_cast<int64_t>(le(2));
        else i->integer = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
        push(i);
        break;
      }
      case 0x8a: {  // LONG1
        const uint64_t n = le(1);
        if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
        uint64_t v = n ? le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        PickleRef i = make(Kind::Int);
        i->integer = static_cast<int64_t>(v);
        push(i);
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const uint8_t* b = take(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = bits << 8 | b[k];
        PickleRef f = make(Kind::Float);
        std::memcpy(&f->real, &bits, 8);
        push(f);
        break;
      }
      case 'X': case 0x8c: case 0x8d: case 'C': case 'B': {
        const uint64_t n = op == 0x8c || op == 'C' ? le(1) : op == 0x8d ? le(8) : le(4);
        PickleRef s = make(op == 'C' || op == 'B' ? Kind::Bytes : Kind::String);
        s->text = text(n);
        push(s);
        break;
      }
      case 'q': memo_put(le(1)); break;
      case 'r': memo_put(le(4)); break;
      case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
      case 'h': push(memo_get(le(1))); break;
      case 'j': push(memo_get(le(4))); break;
      case 't': push(tuple(pop_to_mark())); break;
      case 0x85: case 0x86: case 0x87: {
        const size_t n = op - 0x84u;
        std::vector<PickleRef> items(n);
        for (size_t k = n; k-- > 0;) items[k] = pop();
        push(tuple(std::move(items)));
        break;
      }
      case 'l': {
        PickleRef l = make(Kind::List);
        for (PickleRef& v : pop_to_mark()) append(*l, std::move(v));
        push(l);
        break;
      }
      case 'd': {
        std::vector<PickleRef> items = pop_to_mark();
        if (items.size() % 2) fail("DICT with an odd number of items");
        PickleRef d = make(Kind::Dict);
        for (size_t k = 0; k < items.size(); k += 2) set_item(*d, items[k], items[k + 1]);
        push(d);
        break;
      }
      case 'a': {
        PickleRef v = pop();
        append(*top(), std::move(v));
        break;
      }
      case 'e': {
        std::vector<PickleRef> items = pop_to_mark();
        PickleRef& list = top();
        for (PickleRef& v : items) append(*list, std::move(v));
        break;
      }
      case 's': {
        PickleRef v = pop();
        PickleRef k = pop();
        set_item(*top(), std::move(k), std::move(v));
        break;
      }
      case 'u': {
        std::vector<PickleRef> items = pop_to_mark();
        if (items.size() % 2) fail("SETITEMS with an odd number of items");
        PickleRef& d = top();
        for (size_t k = 0; k < items.size(); k += 2) set_item(*d, items[k], items[k + 1]);
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module = line();
        std::string name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleRef name = pop();
        PickleRef module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String) fail("STACK_GLOBAL of non-strings");
        push(global(module->text, name->text));
        break;
      }
      case 'Q': {  // BINPERSID
        PickleRef pid = pop();
        push(persistent_load(pid));
        break;
      }
      case 'R': {
        PickleRef args = pop();
        PickleRef callable = pop();
        push(reduce(callable, args));
        break;
      }
      case 'b': {  // BUILD: state is ignored (OrderedDict _metadata, tensor state)
        PickleRef state = pop();
        const PickleValue& obj = *top();
        if (obj.kind != Kind::Dict && obj.kind != Kind::Tensor)
          fail(std::string("BUILD on a ") + kind_name(obj.kind) + " (only an OrderedDict or a tensor takes state)");
        break;
      }
      default: {
        const bool printable = op >= 0x20 && op < 0x7f;
        static const char* hex = "0123456789abcdef";
        fail(std::string("unsupported pickle opcode 0x") + hex[op >> 4] + hex[op & 15] +
             (printable ? std::string(" ('") + static_cast<char>(op) + "')" : std::string()));
      }
    }
  }
}

}  // namespace

PickleRef unpickle(const std::string& label, const uint8_t* data, size_t size, const StorageResolver& resolve,
                   const UnpickleLimits& limits) {
  Machine m(label, data, size, resolve, limits);
  return m.run();
}

}  // namespace wl
