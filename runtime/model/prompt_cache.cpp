#include "runtime/model/prompt_cache.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/output_file.h"

namespace wl {
namespace {

constexpr char kMagic[8] = {'W', 'L', 'T', '5', 'C', 'T', 'X', '1'};

struct Header {
  char magic[8];
  uint64_t key;
  int64_t text_len, dim, seq_len;
  uint64_t payload_hash;
};
static_assert(sizeof(Header) == 48);

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;

uint64_t payload_hash(const std::vector<int32_t>& ids, const float* ctx, size_t floats) {
  uint64_t h = fnv1a(kFnvBasis, ids.data(), ids.size() * sizeof(int32_t));
  return fnv1a(h, ctx, floats * sizeof(float));
}

}  // namespace

std::string PromptEmbeddingCache::default_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/worldloop/text";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/worldloop/text";
  return {};
}

PromptEmbeddingCache::PromptEmbeddingCache(std::string dir, size_t memory_entries)
    : dir_(std::move(dir)), capacity_(memory_entries ? memory_entries : 1) {}

std::string PromptEmbeddingCache::file_of(uint64_t key) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.t5ctx", static_cast<unsigned long long>(key));
  return dir_ + "/" + name;
}

uint64_t PromptEmbeddingCache::key_of(const Umt5Encoder& enc, const std::vector<int32_t>& ids,
                                      const std::vector<float>& mask) {
  uint64_t h = fnv1a(kFnvBasis, "umt5-context-v1", 15);
  const uint64_t w = enc.weights_hash();
  h = fnv1a(h, &w, sizeof w);
  const uint8_t pb[2] = {static_cast<uint8_t>(enc.precision()), static_cast<uint8_t>(enc.backend())};
  h = fnv1a(h, pb, sizeof pb);
  const uint64_t n = ids.size();
  h = fnv1a(h, &n, sizeof n);
  h = fnv1a(h, ids.data(), ids.size() * sizeof(int32_t));
  return fnv1a(h, mask.data(), mask.size() * sizeof(float));
}

bool PromptEmbeddingCache::load(uint64_t key, const std::vector<int32_t>& ids, int64_t dim, Entry& out) {
  if (dir_.empty()) return false;
  const std::string path = file_of(key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;  // not cached yet
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto reject = [&](const char* why) {
    ++stats_.rejected_files;
    std::fprintf(stderr, "worldloop: prompt cache %s: %s; recomputing\n", path.c_str(), why);
    return false;
  };
  if (bytes.size() < sizeof(Header)) return reject("shorter than its header");
  Header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return reject("not a prompt cache file");
  if (h.key != key) return reject("written for another key");
  const int64_t L = static_cast<int64_t>(ids.size());
  if (h.text_len != L || h.dim != dim || h.seq_len < 0 || h.seq_len > L) return reject("shape differs");
  const size_t want = sizeof(Header) + static_cast<size_t>(L) * sizeof(int32_t) +
                      static_cast<size_t>(h.seq_len * dim) * sizeof(float);
  if (bytes.size() != want) return reject("wrong size (truncated or corrupt)");
  std::vector<int32_t> file_ids(static_cast<size_t>(L));
  std::memcpy(file_ids.data(), bytes.data() + sizeof(Header), file_ids.size() * sizeof(int32_t));
  const float* rows = reinterpret_cast<const float*>(bytes.data() + sizeof(Header) + file_ids.size() * sizeof(int32_t));
  std::vector<float> ctx(static_cast<size_t>(h.seq_len * dim));
  std::memcpy(ctx.data(), rows, ctx.size() * sizeof(float));
  if (payload_hash(file_ids, ctx.data(), ctx.size()) != h.payload_hash) return reject("content hash differs (corrupt)");
  if (file_ids != ids) return reject("token ids differ (hash collision)");
  out.ids = std::move(file_ids);
  out.seq_len = h.seq_len;
  out.context = Tensor::zeros({L, dim});
  if (!ctx.empty()) std::memcpy(out.context.f32(), ctx.data(), ctx.size() * sizeof(float));
  return true;
}

void PromptEmbeddingCache::store(uint64_t key, const Entry& e) {
  if (dir_.empty()) return;
  const int64_t L = static_cast<int64_t>(e.ids.size()), dim = e.context.dim(1);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  const std::string path = file_of(key);
  Header h;
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.key = key;
  h.text_len = L;
  h.dim = dim;
  h.seq_len = e.seq_len;
  const size_t floats = static_cast<size_t>(e.seq_len * dim);
  h.payload_hash = payload_hash(e.ids, e.context.f32(), floats);
  try {
    // A fresh temporary file renamed into place: another process reading the
    // cache never sees half an entry, and a planted symlink is not followed.
    ReplacingFile out(path);
    out.write(&h, sizeof h);
    out.write(e.ids.data(), e.ids.size() * sizeof(int32_t));
    out.write(e.context.f32(), floats * sizeof(float));
    out.commit();
  } catch (const Error& err) {
    ++stats_.write_failures;
    std::fprintf(stderr, "worldloop: cannot write the prompt cache: %s (continuing without it)\n", err.what());
  }
}

const PromptEmbeddingCache::Entry& PromptEmbeddingCache::get(const Umt5Encoder& enc, const Umt5Tokenizer& tok,
                                                             const std::string& prompt) {
  const Umt5Tokens t = tok.tokenize(prompt, enc.config().text_len);
  return get(enc, t.ids, t.mask);
}

const PromptEmbeddingCache::Entry& PromptEmbeddingCache::get(const Umt5Encoder& enc, const std::vector<int32_t>& ids,
                                                             const std::vector<float>& mask) {
  const uint64_t key = key_of(enc, ids, mask);
  if (auto it = memory_.find(key); it != memory_.end() && it->second.first.ids == ids) {
    ++stats_.memory_hits;
    lru_.splice(lru_.begin(), lru_, it->second.second);
    return it->second.first;
  }
  Entry e;
  if (load(key, ids, enc.config().dim, e)) {
    ++stats_.disk_hits;
  } else {
    const Umt5Encoder::Output o = enc.encode(ids, mask, {});
    e.ids = ids;
    e.seq_len = o.seq_len;
    e.context = ops::to_backend(o.context, Backend::CPU).clone();
    ++stats_.computed;
    store(key, e);
  }
  if (auto it = memory_.find(key); it != memory_.end()) {  // a colliding entry: replace it
    lru_.erase(it->second.second);
    memory_.erase(it);
  }
  while (memory_.size() >= capacity_) {
    memory_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  auto [it, inserted] = memory_.emplace(key, std::make_pair(std::move(e), lru_.begin()));
  return it->second.first;
}

}  // namespace wl
