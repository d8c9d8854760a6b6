// Scratch memory for oneDNN primitives, owned by the calling thread.
//
// oneDNN's default (library-owned) scratchpad belongs to the thread that
// created a primitive; the engine creates primitives while loading and runs
// them on the model thread, which then overruns a scratchpad sized for someone
// else. Primitives here use scratchpad_mode::user and get their scratch from
// the thread that executes them.
#pragma once
#include <cstdint>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace wl::cpu {

inline dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// A memory object of `desc`'s size over this thread's scratch buffer (grown as needed).
inline dnnl::memory scratchpad_memory(const dnnl::memory::desc& desc, const dnnl::engine& engine) {
  static thread_local std::vector<uint8_t> buffer;
  const size_t need = desc.get_size() + 64;
  if (buffer.size() < need) buffer.resize(need);
  auto addr = reinterpret_cast<uintptr_t>(buffer.data());
  void* aligned = reinterpret_cast<void*>((addr + 63) & ~uintptr_t{63});
  return dnnl::memory(desc, engine, aligned);
}

}  // namespace wl::cpu
