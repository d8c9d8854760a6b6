// The umT5 prompt embeddings, computed once per prompt (issue 21): kept in
// memory and on disk, so switching back to a prompt costs a lookup. The key
// is a hash of the encoder's weights (Umt5Encoder::weights_hash: its
// configuration and a few tensors' bytes), the precision and backend of the
// products and the prompt's token ids (which the cleaned text and the
// tokenizer decide). A disk entry is trusted only when its magic, size, key,
// shape, ids and payload hash all check out; anything else is recomputed and
// rewritten.
#pragma once
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/model/umt5.h"
#include "runtime/model/umt5_tokenizer.h"

namespace wl {

class PromptEmbeddingCache {
 public:
  // $XDG_CACHE_HOME/worldloop/text, else $HOME/.cache/worldloop/text; empty
  // when neither variable is set.
  static std::string default_dir();

  // `dir` empty: memory only. At most `memory_entries` prompts stay in
  // memory (least recently used go first).
  explicit PromptEmbeddingCache(std::string dir = default_dir(), size_t memory_entries = 32);

  struct Entry {
    std::vector<int32_t> ids;  // [text_len]
    int64_t seq_len = 0;
    Tensor context;            // [text_len, dim] on the CPU, rows >= seq_len zero
  };
  // The context of `prompt`: from memory, from disk, or computed by `enc`.
  // The reference stays valid until the next get().
  const Entry& get(const Umt5Encoder& enc, const Umt5Tokenizer& tok, const std::string& prompt);
  // The same for ids and a mask already made.
  const Entry& get(const Umt5Encoder& enc, const std::vector<int32_t>& ids, const std::vector<float>& mask);

  struct Stats {
    int64_t memory_hits = 0, disk_hits = 0, computed = 0;
    int64_t rejected_files = 0;  // disk entries that failed a check (recomputed)
    int64_t write_failures = 0;  // disk entries that could not be written (a warning each)
  };
  const Stats& stats() const { return stats_; }
  const std::string& dir() const { return dir_; }
  // The disk file of a key (for tests and logs).
  std::string file_of(uint64_t key) const;
  static uint64_t key_of(const Umt5Encoder& enc, const std::vector<int32_t>& ids, const std::vector<float>& mask);

 private:
  bool load(uint64_t key, const std::vector<int32_t>& ids, int64_t dim, Entry& out);
  void store(uint64_t key, const Entry& e);

  std::string dir_;
  size_t capacity_;
  std::list<uint64_t> lru_;  // most recent first
  std::map<uint64_t, std::pair<Entry, std::list<uint64_t>::iterator>> memory_;
  Stats stats_;
};

}  // namespace wl
