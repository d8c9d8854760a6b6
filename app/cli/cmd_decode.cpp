// worldloop decode: Wan 2.1 latents to pixels with either published decoder
// (runtime/model/latent_video_decoder.h). Two forms:
//   --case C.safetensors --out O.safetensors   replays a decoder case (a
//       wan-vae-decoder-case or taehv-decoder-case file, specs/decoders.md §3)
//       and writes every tensor of it that a decoder computes, under its names;
//   --latents L.safetensors --out video.mp4|video.y4m|frames/   decodes a
//       user's latents (as `worldloop generate` writes them) into a video.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/record/frame_writer.h"
#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/frame_decoder.h"
#include "runtime/model/latent_video_decoder.h"
#include "runtime/model/taehv_decoder.h"
#include "runtime/model/wan_vae_blocks.h"
#include "runtime/model/wan_vae_decoder.h"

namespace wl::app {
namespace {

const char* kUsage =
    "usage: worldloop decode --weights W --case C.safetensors --out O.safetensors [--latents-per-call N]\n"
    "                        [--decoder vae|taehv] [--vae-stream pipeline|demo]\n"
    "       worldloop decode --weights W --latents L.safetensors --out video.mp4|video.y4m|frames/\n"
    "                        [--decoder vae|taehv] [--vae-stream pipeline|demo] [--taehv-stream carried|demo]\n"
    "                        [--latents-per-call N] [--fps F]\n"
    "W is the Wan 2.1 VAE (Wan2.1_VAE.pth or safetensors; its decoder.* and conv2.* tensors) or TAEHV\n"
    "(taew2_1.pth / taew2_1.safetensors); which one is read from the file, and --decoder must agree.\n"
    "The first form replays a decoder case and writes, under the case's names:\n"
    "  VAE:   stream.call.{i}.pixels (N latents per call, default from C's shapes, else 1), video.pixels,\n"
    "         video.raw, tap.call.{i}.<module> (z_denorm, conv1, middle, upsamples.N, head.2), in the\n"
    "         --vae-stream semantics (default pipeline); demo.call.{i}.pixels and .raw_untrimmed (demo\n"
    "         semantics, N per call, default from C, else 3) and pipeline.video.pixels when C has them.\n"
    "  TAEHV: video.untrimmed (memories carried, 4 frames per latent), video.pixels (= untrimmed[3:]),\n"
    "         tap.decoder.N (the first 2 latent frames), demo.call.{i}.pixels (the demo's windows).\n"
    "Tap tensors are written only when C holds some.\n"
    "The second form reads L's `latents` [T, 16, h, w] (the DiT's normalised space) and writes RGB frames\n"
    "(4 per latent after the first; 16 fps by default), N latents per decoder call (default 3).\n"
    "CPU, float32.\n";

using Named = std::vector<std::pair<std::string, Tensor>>;

bool has_prefix(const SafetensorsFile& c, const std::string& prefix) {
  for (const std::string& n : c.names())
    if (n.rfind(prefix, 0) == 0) return true;
  return false;
}

// Latent frames per call from the frames a case's first call holds: the first
// call of n latents gives 1 + 4 (n - 1) frames when trimmed (or a pipeline
// VAE's), 4 n untrimmed.
std::optional<int64_t> per_call_from(const SafetensorsFile& c, const std::string& name, bool untrimmed) {
  if (!c.has(name)) return std::nullopt;
  const int64_t f = c.info(name).shape.at(0);
  if (untrimmed) return f % 4 == 0 && f > 0 ? std::optional<int64_t>(f / 4) : std::nullopt;
  return (f + 3) % 4 == 0 && f > 0 ? std::optional<int64_t>((f + 3) / 4) : std::nullopt;
}

// --latents-per-call, else what the case's shapes say, else its metadata's
// `<key>` entry, else `fallback`.
int64_t latents_per_call(const Args& args, const SafetensorsFile& c, std::optional<int64_t> from_case,
                         const std::string& key, int64_t fallback) {
  int64_t n = fallback;
  if (args.has("latents-per-call")) {
    n = args.get_int("latents-per-call", 0);
  } else if (from_case) {
    n = *from_case;
  } else if (auto it = c.metadata().find(key); it != c.metadata().end()) {
    try {
      n = std::stoll(it->second);
    } catch (const std::exception&) {
      throw Error(c.path() + ": __metadata__." + key + " '" + it->second + "' is not an integer");
    }
  }
  if (n < 1) throw Error(c.path() + ": latent frames per call must be at least 1, got " + std::to_string(n));
  return n;
}

Tensor clamp_unit(Tensor t) {
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = std::clamp(t.f32()[i], -1.0f, 1.0f);
  return t;
}

Tensor concat(const std::vector<Tensor>& parts) {
  Tensor out = parts.at(0);
  for (size_t i = 1; i < parts.size(); ++i) out = wan_vae::concat_frames(out, parts[i]);
  return out;
}

// The VAE's cases: streamed calls with their taps, the whole video, and the
// demo or pipeline contrast when the case holds it.
void replay_vae(const WeightMap& w, const SafetensorsFile& c, const Tensor& latents, const Args& args, Named& out,
                std::map<std::string, std::string>& meta) {
  const WanVaeDecoder dec(w);
  const int64_t T = latents.dim(0);
  const VaeStreamSemantics semantics = parse_vae_semantics(args.get("vae-stream", "pipeline"), "--vae-stream");
  const int64_t n = latents_per_call(args, c, per_call_from(c, "stream.call.0.pixels", false),
                                     "stream.latents_per_call", 1);
  const bool want_taps = has_prefix(c, "tap.call.");

  WanVaeDecoder::Stream s(semantics);
  std::vector<Tensor> raws;
  for (int64_t first = 0, call = 0; first < T; first += n, ++call) {
    const int64_t count = std::min(n, T - first);
    std::map<std::string, std::vector<Tensor>> taps;  // per module, this call's decoder calls in order
    std::vector<Tensor> frames;
    for (int64_t t = first; t < first + count; ++t) {
      WanVaeDecoder::Taps one;
      frames.push_back(dec.decode_call(wan_vae::frames_of(latents, t, 1), s, &one));  // [1 or 4, 3, H, W]
      for (auto& [name, tap] : one) taps[name].push_back(tap);
    }
    const Tensor raw = concat(frames);
    raws.push_back(raw);
    const std::string k = "stream.call." + std::to_string(call);
    out.emplace_back(k + ".pixels", clamp_unit(raw.clone()));
    if (want_taps)
      for (auto& [name, parts] : taps) out.emplace_back("tap.call." + std::to_string(call) + "." + name, concat(parts));
  }
  const Tensor raw = concat(raws);
  out.emplace_back("video.pixels", clamp_unit(raw.clone()));
  out.emplace_back("video.raw", raw);
  meta["stream.semantics"] = vae_semantics_name(semantics);
  meta["stream.latents_per_call"] = std::to_string(n);

  const bool demo = has_prefix(c, "demo.call.");
  if (demo) {
    std::optional<int64_t> from_case = per_call_from(c, "demo.call.0.raw_untrimmed", true);
    if (!from_case) from_case = per_call_from(c, "demo.call.0.pixels", false);
    const int64_t m = latents_per_call(args, c, from_case, "demo.latents_per_call", 3);
    WanVaeDecoder::Stream d(VaeStreamSemantics::Demo);
    for (int64_t first = 0, call = 0; first < T; first += m, ++call) {
      Tensor untrimmed;
      Tensor px = dec.decode(wan_vae::frames_of(latents, first, std::min(m, T - first)), d, &untrimmed);  // clamped
      if (call == 0) px = wan_vae::frames_of(px, 3, px.dim(0) - 3);  // the demo drops its first 3 frames
      const std::string k = "demo.call." + std::to_string(call);
      out.emplace_back(k + ".pixels", px);
      out.emplace_back(k + ".raw_untrimmed", untrimmed);
    }
    meta["demo.latents_per_call"] = std::to_string(m);
  }
  if (demo || c.has("pipeline.video.pixels")) {
    WanVaeDecoder::Stream p(VaeStreamSemantics::Pipeline);
    out.emplace_back("pipeline.video.pixels", dec.decode(latents, p));
  }
}

void replay_taehv(const WeightMap& w, const SafetensorsFile& c, const Tensor& latents, const Args& args, Named& out,
                  std::map<std::string, std::string>& meta) {
  const TaehvDecoder dec(w);
  const int64_t T = latents.dim(0);
  const int64_t n = latents_per_call(args, c, std::nullopt, "stream.latents_per_call", 1);
  TaehvDecoder::Stream s;
  std::vector<Tensor> raws;
  for (int64_t first = 0; first < T; first += n)
    raws.push_back(dec.decode_call(wan_vae::frames_of(latents, first, std::min(n, T - first)), s));  // [4 n, 3, H, W]
  const Tensor untrimmed = concat(raws);
  const int64_t trim = dec.frames_to_trim();
  out.emplace_back("video.untrimmed", untrimmed);
  out.emplace_back("video.pixels", wan_vae::frames_of(untrimmed, trim, untrimmed.dim(0) - trim));

  TaehvDecoder::Stream fresh;
  TaehvDecoder::Taps taps;
  dec.decode_call(wan_vae::frames_of(latents, 0, std::min<int64_t>(2, T)), fresh, &taps);
  for (auto& [index, tap] : taps) out.emplace_back("tap.decoder." + std::to_string(index), tap);
  meta["stream.latents_per_call"] = std::to_string(n);

  if (has_prefix(c, "demo.call.")) {
    const int64_t m =
        latents_per_call(args, c, per_call_from(c, "demo.call.0.pixels", false), "demo.latents_per_call", 3);
    TaehvDemoWindow window(dec);
    for (int64_t first = 0, call = 0; first < T; first += m, ++call)
      out.emplace_back("demo.call." + std::to_string(call) + ".pixels",
                       window.decode_block(wan_vae::frames_of(latents, first, std::min(m, T - first))));
    meta["demo.latents_per_call"] = std::to_string(m);
  }
}

LatentDecoderKind decoder_of(const WeightMap& w, const Args& args) {
  const LatentDecoderKind kind = detect_latent_decoder(w);
  if (args.has("decoder") && parse_latent_decoder(args.require("decoder"), "--decoder") != kind)
    throw Error(w.path() + " is a " + (kind == LatentDecoderKind::Vae ? "Wan 2.1 VAE" : "TAEHV") +
                " decoder, not the --decoder " + args.require("decoder") + " asked for");
  return kind;
}

Tensor read_latents(const SafetensorsFile& f, int64_t channels) {
  if (!f.has("latents")) throw Error(f.path() + ": missing tensor 'latents' ([T, " + std::to_string(channels) + ", h, w])");
  const Tensor z = f.get_f32("latents");  // [T, 16, h, w]
  if (z.rank() != 4 || z.dim(0) < 1 || z.dim(1) != channels || z.dim(2) < 1 || z.dim(3) < 1 || z.dim(2) > 2048 ||
      z.dim(3) > 2048)
    throw Error(f.path() + ": tensor 'latents' has shape " + shape_str(z.shape()) + ", expected [T, " +
                std::to_string(channels) + ", h, w]");
  return z;
}

int replay_case(const WeightMap& w, LatentDecoderKind kind, const Args& args, const std::string& out_path) {
  const SafetensorsFile c = SafetensorsFile::open(args.require("case"));
  if (auto it = c.metadata().find("decoder"); it != c.metadata().end()) {
    const bool vae_case = it->second.find("vae") != std::string::npos;
    if (vae_case != (kind == LatentDecoderKind::Vae))
      throw Error(c.path() + ": a case for decoder '" + it->second + "', but " + w.path() + " is a " +
                  latent_decoder_name(kind) + " decoder");
  }
  const Tensor latents = read_latents(c, 16);
  Named out;
  std::map<std::string, std::string> meta = {{"format", std::string(latent_decoder_name(kind)) + "-decoder-output"},
                                             {"weights", w.path()},
                                             {"case", c.path()}};
  if (kind == LatentDecoderKind::Vae)
    replay_vae(w, c, latents, args, out, meta);
  else
    replay_taehv(w, c, latents, args, out, meta);
  write_safetensors(out_path, out, meta);
  int64_t matched = 0;
  for (const auto& [name, t] : out) matched += c.has(name) ? 1 : 0;
  std::fprintf(stderr, "decode: %s, %lld latent frames %lldx%lld -> %zu tensors (%lld named in the case) -> %s\n",
               latent_decoder_name(kind), static_cast<long long>(latents.dim(0)),
               static_cast<long long>(latents.dim(3)), static_cast<long long>(latents.dim(2)), out.size(),
               static_cast<long long>(matched), out_path.c_str());
  return 0;
}

int decode_video(const WeightMap& w, LatentDecoderKind kind, const Args& args, const std::string& out_path) {
  const SafetensorsFile f = SafetensorsFile::open(args.require("latents"));
  const Tensor latents = read_latents(f, 16);
  LatentVideoDecoderOptions options;
  if (kind == LatentDecoderKind::Vae) {
    if (args.has("taehv-stream")) throw Error("--taehv-stream is for a TAEHV decoder; " + w.path() + " is the Wan VAE");
    options.demo = parse_vae_semantics(args.get("vae-stream", "pipeline"), "--vae-stream") == VaeStreamSemantics::Demo;
  } else {
    if (args.has("vae-stream")) throw Error("--vae-stream is for the Wan VAE; " + w.path() + " is TAEHV");
    const std::string mode = args.get("taehv-stream", "carried");
    if (mode != "carried" && mode != "demo") throw Error("--taehv-stream: '" + mode + "' is not carried or demo");
    options.demo = mode == "demo";
  }
  const double fps = std::stod(args.get("fps", "16"));
  if (!(fps > 0 && fps <= 1000)) throw Error("--fps must be in (0, 1000]");
  const int64_t n = args.get_int("latents-per-call", 3);
  if (n < 1) throw Error("--latents-per-call must be at least 1");

  LatentVideoDecoder dec(w, options);
  std::unique_ptr<FrameWriter> writer = open_frame_writer(out_path, fps);
  std::vector<uint8_t> rgb;
  int64_t frames = 0;
  const int64_t T = latents.dim(0);
  for (int64_t first = 0; first < T; first += n) {
    const Tensor px = dec.push(wan_vae::frames_of(latents, first, std::min(n, T - first)));  // [F, 3, H, W] in [-1, 1]
    unit_rgb_to_rgb8(px, rgb);
    const FrameFormat format{static_cast<int>(px.dim(3)), static_cast<int>(px.dim(2))};
    for (int64_t i = 0; i < px.dim(0); ++i) writer->write(rgb.data() + i * format.bytes(), format);
    frames += px.dim(0);
  }
  writer->close();
  std::fprintf(stderr, "decode: %s, %lld latent frames -> %lld frames %lldx%lld -> %s\n", dec.describe().c_str(),
               static_cast<long long>(T), static_cast<long long>(frames), static_cast<long long>(8 * latents.dim(3)),
               static_cast<long long>(8 * latents.dim(2)), writer->describe().c_str());
  return 0;
}

}  // namespace

int cmd_decode(int argc, char** argv) {
  Args args(argc, argv,
            {"weights", "case", "latents", "out", "decoder", "vae-stream", "taehv-stream", "latents-per-call", "fps"},
            {"help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.has("case") == args.has("latents")) throw Error("give exactly one of --case and --latents");
  const std::string out = args.require("out");
  const WeightMap w = WeightMap::open(args.require("weights"));
  const LatentDecoderKind kind = decoder_of(w, args);
  return args.has("case") ? replay_case(w, kind, args, out) : decode_video(w, kind, args, out);
}

}  // namespace wl::app
