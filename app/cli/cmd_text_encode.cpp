// worldloop text-encode: runs the umT5 encoder (runtime/model/umt5.h) on a
// case file's prompts (tokenized with --tokenizer) or on its ids and mask,
// and writes what the DiT receives: ids [N, text_len] and context
// [N, text_len, dim].
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/loop/dit_backend.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/case_file.h"
#include "runtime/model/umt5.h"
#include "runtime/model/umt5_tokenizer.h"

namespace wl::app {
namespace {

const char* kUsage =
    "usage: worldloop text-encode --weights W --case C.safetensors --out O.safetensors\n"
    "                             [--tokenizer spiece.model] [--precision f32|bf16|auto] [--backend cpu|cuda|auto]\n"
    "Encodes prompts with Wan's umT5 encoder. W is the encoder's weights (safetensors, or what\n"
    "WeightMap::open reads). With --tokenizer the prompts are C's __metadata__.prompts (a JSON list of\n"
    "strings), cleaned and tokenized; without it C's ids and mask tensors ([N, text_len], float32 holding\n"
    "integers) are used. Writes ids [N, text_len] and context [N, text_len, dim] (f32; rows past each\n"
    "prompt's tokens are zero), as the DiT receives them. Products run in f32 unless --precision bf16;\n"
    "the encoder runs on the CPU unless --backend cuda (auto: CUDA when a device is usable).\n";

struct Prompts {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<float>> mask;
  std::vector<std::string> cleaned;
};

Prompts from_tokenizer(const SafetensorsFile& c, const std::string& tokenizer, int64_t text_len) {
  auto it = c.metadata().find("prompts");
  if (it == c.metadata().end()) throw Error(c.path() + ": no __metadata__.prompts to tokenize");
  nlohmann::json list = nlohmann::json::parse(it->second, nullptr, false);
  if (!list.is_array() || list.empty())
    throw Error(c.path() + ": __metadata__.prompts is not a non-empty JSON list of strings");
  const Umt5Tokenizer tok(tokenizer);
  Prompts p;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) throw Error(c.path() + ": __metadata__.prompts[" + std::to_string(i) + "] is not a string");
    Umt5Tokens t = tok.tokenize(list[i].get<std::string>(), text_len);
    p.ids.push_back(std::move(t.ids));
    p.mask.push_back(std::move(t.mask));
    p.cleaned.push_back(std::move(t.cleaned));
  }
  return p;
}

Prompts from_ids(const SafetensorsFile& c, int64_t vocab, const std::string& weights) {
  for (const char* name : {"ids", "mask"})
    if (!c.has(name)) throw Error(c.path() + ": missing tensor '" + name + "' (or pass --tokenizer)");
  const Tensor ids = c.get_f32("ids"), mask = c.get_f32("mask");
  if (ids.rank() != 2 || ids.dim(0) < 1 || ids.dim(1) < 1)
    throw Error(c.path() + ": tensor 'ids' has shape " + shape_str(ids.shape()) + ", expected [N, text_len]");
  if (mask.shape() != ids.shape())
    throw Error(c.path() + ": tensor 'mask' has shape " + shape_str(mask.shape()) + ", expected " +
                shape_str(ids.shape()) + " like 'ids'");
  const int64_t N = ids.dim(0), L = ids.dim(1);
  const float* ip = ids.f32();
  const float* mp = mask.f32();
  Prompts p;
  for (int64_t n = 0; n < N; ++n) {
    std::vector<int32_t> row(static_cast<size_t>(L));
    std::vector<float> m(static_cast<size_t>(L));
    for (int64_t j = 0; j < L; ++j) {
      const float v = ip[n * L + j], k = mp[n * L + j];
      const std::string at = "[" + std::to_string(n) + ", " + std::to_string(j) + "]";
      if (!(v >= 0.0f && v < static_cast<float>(vocab)) || v != std::floor(v))
        throw Error(c.path() + ": ids" + at + " = " + std::to_string(v) + " is not a token id of " + weights +
                    " (integers 0.." + std::to_string(vocab - 1) + ")");
      if (k != 0.0f && k != 1.0f)
        throw Error(c.path() + ": mask" + at + " = " + std::to_string(k) + " is neither 0 nor 1");
      row[static_cast<size_t>(j)] = static_cast<int32_t>(v);
      m[static_cast<size_t>(j)] = k;
    }
    p.ids.push_back(std::move(row));
    p.mask.push_back(std::move(m));
  }
  return p;
}

}  // namespace

int cmd_text_encode(int argc, char** argv) {
  Args args(argc, argv, {"weights", "case", "out", "tokenizer", "precision", "backend"}, {"help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string weights = args.require("weights"), case_path = args.require("case"), out = args.require("out");
  const ops::MatmulPrecision precision = ops::parse_precision(args.get("precision", "f32"));
  const Backend on = parse_backend_flag(args.get("backend", "cpu"));

  const WeightMap w = WeightMap::open(weights);
  const Umt5Encoder enc(w, precision, on);
  const Umt5Config& cfg = enc.config();
  const SafetensorsFile c = open_float_tensors(case_path);
  int64_t text_len = cfg.text_len;
  if (auto it = c.metadata().find("text_len"); it != c.metadata().end()) {
    try {
      text_len = std::stoll(it->second);
    } catch (const std::exception&) {
      throw Error(case_path + ": __metadata__.text_len '" + it->second + "' is not an integer");
    }
    if (text_len < 1) throw Error(case_path + ": __metadata__.text_len " + it->second + " must be positive");
  }
  const Prompts p = args.has("tokenizer") ? from_tokenizer(c, args.require("tokenizer"), text_len)
                                          : from_ids(c, cfg.vocab, weights);
  const int64_t N = static_cast<int64_t>(p.ids.size()), L = static_cast<int64_t>(p.ids[0].size());
  Tensor ids = Tensor::empty({N, L}), context = Tensor::empty({N, L, cfg.dim});
  std::string lens;
  for (int64_t n = 0; n < N; ++n) {
    const Umt5Encoder::Output o = enc.encode(p.ids[n], p.mask[n], {});
    const Tensor host = ops::to_backend(o.context, Backend::CPU);
    std::copy(host.f32(), host.f32() + L * cfg.dim, context.f32() + n * L * cfg.dim);
    for (int64_t j = 0; j < L; ++j) ids.f32()[n * L + j] = static_cast<float>(p.ids[n][j]);
    lens += (n ? "," : "") + std::to_string(o.seq_len);
  }
  std::map<std::string, std::string> meta = {{"format", "umt5-context"},
                                             {"weights", weights},
                                             {"precision", ops::precision_name(precision)},
                                             {"text_len", std::to_string(L)},
                                             {"seq_lens", "[" + lens + "]"}};
  if (!p.cleaned.empty()) meta["cleaned"] = nlohmann::json(p.cleaned).dump();
  write_safetensors(out, {{"ids", ids}, {"context", context}}, meta);
  std::fprintf(stderr, "text-encode: %lld prompts, text_len %lld, dim %lld, %s products on %s -> %s\n",
               static_cast<long long>(N), static_cast<long long>(L), static_cast<long long>(cfg.dim),
               ops::precision_name(precision), on == Backend::CUDA ? "CUDA" : "the CPU", out.c_str());
  return 0;
}

}  // namespace wl::app
