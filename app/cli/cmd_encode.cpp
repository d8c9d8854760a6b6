// worldloop encode: the encoders of an image start. With CLIP weights it
// prepares a start image as Matrix-Game 2.0 does and runs the CLIP vision
// tower (runtime/model/start_image.h, clip_vision.h); with --vae as well it
// builds MG2's cond_concat (mg2_cond_concat.h). With VAE weights and a video
// case it runs the Wan VAE encoder (wan_vae_encoder.h). Every intermediate is
// written under the fixtures' names so a run can be checked step by step.
#include <array>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
// The only translation unit of the executable that decodes images.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#include <sys/stat.h>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/clip_vision.h"
#include "runtime/model/mg2_cond_concat.h"
#include "runtime/model/wan_vae_encoder.h"
#include "runtime/model/start_image.h"

namespace wl::app {
namespace {

const char* kUsage =
    "usage: worldloop encode --weights CLIP (--case C.safetensors | --image START.png [--size HxW]) --out O.safetensors\n"
    "                        [--vae Wan2.1_VAE.pth --latent-frames F] [--precision f32|bf16]\n"
    "       worldloop encode --weights Wan2.1_VAE.pth --case VIDEO.safetensors --out O.safetensors\n"
    "Runs MG2's start-image preparation and the CLIP ViT-H/14 vision tower (the visual.* tensors of\n"
    "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth, or a safetensors file with them).\n"
    "The image is C's image.u8 tensor (a wan-clip-vision-case file, target size from its frame_hw) or\n"
    "START (PNG/JPEG/BMP, read with stb_image; no EXIF rotation), centre-cropped to the aspect of\n"
    "--size (default 352x640), resized with Pillow's bilinear and squashed to CLIP's input size.\n"
    "Writes crop.box, frame.u8, frame, clip.resized, clip.pixels, tap.embed, tap.block.i and tokens\n"
    "(MG2's visual_context: all blocks but the last, no post_norm), plus contrast.all_blocks(_post_norm).\n"
    "With --vae, also cond_concat [F, 20, H/8, W/8] (mask, then the VAE latents of the frame followed by grey\n"
    "frames; F from --latent-frames) and visual_context (= tokens), MG2's two conditioning inputs.\n"
    "The second form encodes C's video [T, 3, H, W] in [-1, 1] (a wan-vae-encoder-case file) with the Wan 2.1\n"
    "VAE encoder, streaming (1 frame, then 4 per call): latents (normalised), raw.mu, raw.logvar and\n"
    "tap.call.i.<module> for every call. CPU only.\n";

constexpr int kMaxSide = 16384;

// Any case holding a start image (image.u8); the target size from its frame_hw.
ImageU8 image_from_case(const SafetensorsFile& c, int64_t& th, int64_t& tw) {
  if (!c.has("image.u8")) {
    auto fmt = c.metadata().find("format");
    throw Error(c.path() + ": missing tensor 'image.u8', the start image (format '" +
                (fmt == c.metadata().end() ? std::string("none") : fmt->second) + "')");
  }
  const Tensor t = c.get("image.u8");  // [H, W, 3] U8
  if (t.dtype() != DType::U8 || t.rank() != 3 || t.dim(2) != 3 || t.dim(0) < 1 || t.dim(1) < 1)
    throw Error(c.path() + ": tensor 'image.u8' is " + dtype_name(t.dtype()) + " " + shape_str(t.shape()) +
                ", expected U8 [H, W, 3]");
  if (auto hw = c.metadata().find("frame_hw"); hw != c.metadata().end()) {
    const nlohmann::json j = nlohmann::json::parse(hw->second, nullptr, false);
    if (!j.is_array() || j.size() != 2 || !j[0].is_number_integer() || !j[1].is_number_integer() ||
        j[0].get<int64_t>() < 1 || j[1].get<int64_t>() < 1 || j[0].get<int64_t>() > kMaxSide ||
        j[1].get<int64_t>() > kMaxSide)
      throw Error(c.path() + ": __metadata__.frame_hw '" + hw->second + "' is not [height, width]");
    th = j[0].get<int64_t>();
    tw = j[1].get<int64_t>();
  }
  ImageU8 im{t.dim(0), t.dim(1), {}};
  im.rgb.assign(t.data<uint8_t>(), t.data<uint8_t>() + t.numel());
  return im;
}

ImageU8 image_from_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": no such file");
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
  int w = 0, h = 0, channels = 0;
  if (!stbi_info(path.c_str(), &w, &h, &channels))
    throw Error(path + ": not an image stb_image can read (" + stbi_failure_reason() + ")");
  if (w > kMaxSide || h > kMaxSide)
    throw Error(path + ": image is " + std::to_string(w) + "x" + std::to_string(h) + ", larger than " +
                std::to_string(kMaxSide) + " on a side");
  uint8_t* px = stbi_load(path.c_str(), &w, &h, &channels, 3);  // alpha dropped, like convert("RGB")
  if (!px) throw Error(path + ": cannot decode (" + stbi_failure_reason() + ")");
  ImageU8 im{h, w, std::vector<uint8_t>(px, px + static_cast<size_t>(w) * h * 3)};
  stbi_image_free(px);
  return im;
}

void parse_size(const std::string& s, int64_t& th, int64_t& tw) {
  long long h = 0, w = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%lldx%lld%c", &h, &w, &tail) != 2 || h < 1 || w < 1 || h > kMaxSide || w > kMaxSide)
    throw Error("--size must be HEIGHTxWIDTH with sides 1.." + std::to_string(kMaxSide) + ", got '" + s + "'");
  th = h;
  tw = w;
}

Tensor u8_tensor(const ImageU8& im) {
  Tensor t = Tensor::empty({im.height, im.width, 3}, DType::U8);  // [H, W, 3]
  std::copy(im.rgb.begin(), im.rgb.end(), t.data<uint8_t>());
  return t;
}

// The second form: a video case through the Wan VAE encoder.
int encode_video(const WeightMap& w, const Args& args, const std::string& out) {
  if (!args.has("case") || args.has("image") || args.has("vae"))
    throw Error(w.path() + " is a Wan VAE: give --case VIDEO.safetensors (a [T, 3, H, W] video), not --image or --vae");
  const SafetensorsFile c = SafetensorsFile::open(args.require("case"));
  if (!c.has("video")) throw Error(c.path() + ": missing tensor 'video' ([T, 3, H, W] in [-1, 1])");
  const Tensor video = c.get_f32("video");  // [T, 3, H, W]
  if (video.rank() != 4 || video.dim(1) != 3 || video.dim(0) < 1 || video.dim(2) < 8 || video.dim(3) < 8 ||
      video.dim(2) > kMaxSide || video.dim(3) > kMaxSide)
    throw Error(c.path() + ": tensor 'video' has shape " + shape_str(video.shape()) + ", expected [T, 3, H, W] with H, W >= 8");
  const WanVaeEncoder vae(w);
  Tensor mu, logvar;
  std::vector<WanVaeEncoder::Taps> taps;
  const Tensor latents = vae.encode(video, &mu, &logvar, &taps);  // [F, Z, h, w]
  const int64_t T = video.dim(0), calls = latents.dim(0), h = latents.dim(2), wd = latents.dim(3);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (size_t k = 0; k < taps.size(); ++k)
    for (auto& [name, t] : taps[k]) tensors.emplace_back("tap.call." + std::to_string(k) + "." + name, t);
  tensors.emplace_back("latents", latents);
  tensors.emplace_back("raw.mu", mu);
  tensors.emplace_back("raw.logvar", logvar);
  write_safetensors(out, tensors,
                    {{"format", "wan-vae-encoder-output"},
                     {"weights", w.path()},
                     {"source", c.path()},
                     {"encoder_calls", std::to_string(calls)},
                     {"frames_used", std::to_string(1 + 4 * (calls - 1))}});
  std::fprintf(stderr, "encode: %lld frames (%lld used) %lldx%lld -> %lld latent frames %lldx%lld -> %s\n",
               static_cast<long long>(T), static_cast<long long>(1 + 4 * (calls - 1)),
               static_cast<long long>(video.dim(3)), static_cast<long long>(video.dim(2)), static_cast<long long>(calls),
               static_cast<long long>(wd), static_cast<long long>(h), out.c_str());
  return 0;
}

}  // namespace

int cmd_encode(int argc, char** argv) {
  Args args(argc, argv, {"weights", "case", "image", "size", "out", "precision", "vae", "latent-frames"}, {"help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string weights = args.require("weights"), out = args.require("out");
  if (args.has("case") == args.has("image")) throw Error("give exactly one of --case and --image");
  const ops::MatmulPrecision precision = ops::parse_precision(args.get("precision", "f32"));

  const WeightMap w = WeightMap::open(weights);
  if (!w.has("visual.patch_embedding.weight")) {
    if (w.has("encoder.conv1.weight")) return encode_video(w, args, out);
    throw Error(weights + ": neither a CLIP vision tower (no tensor 'visual.patch_embedding.weight') nor a Wan VAE "
                "encoder (no tensor 'encoder.conv1.weight')");
  }
  const ClipVision clip(w, precision);
  if (args.has("latent-frames") && !args.has("vae")) throw Error("--latent-frames needs --vae");

  int64_t th = 352, tw = 640;
  ImageU8 image;
  std::string source;
  int64_t latent_frames = args.has("latent-frames") ? args.get_int("latent-frames", 0) : 0;
  if (args.has("case")) {
    source = args.require("case");
    if (args.has("size")) parse_size(args.require("size"), th, tw);
    const SafetensorsFile c = SafetensorsFile::open(source);
    image = image_from_case(c, th, tw);
    for (const char* key : {"latent_frames", "num_output_frames"})
      if (auto it = c.metadata().find(key); args.has("vae") && !latent_frames && it != c.metadata().end()) {
        try {
          latent_frames = std::stoll(it->second);
        } catch (const std::exception&) {
          throw Error(source + ": __metadata__." + key + " '" + it->second + "' is not an integer");
        }
      }
  } else {
    source = args.require("image");
    parse_size(args.get("size", "352x640"), th, tw);
    image = image_from_file(source);
  }

  const std::array<int64_t, 4> box = centre_crop_box(image.height, image.width, th, tw);
  const ImageU8 frame_u8 = pillow_bilinear_resize(crop(image, box), th, tw);
  const Tensor frame = frame_from_u8(frame_u8);                               // [3, th, tw]
  const Tensor resized = clip_bicubic_resize(frame, clip.config().image_size);  // [3, S, S]
  const Tensor pixels = clip_normalize(resized);                              // [3, S, S]
  // One pass through every block: MG2's tokens are the output of all but the
  // last (use_31_block), the last block's output is the fixtures' contrast.
  ClipVision::Taps taps;
  const Tensor all = clip.forward(pixels, clip.config().layers, &taps);       // [N, D], for contrast
  taps.block.pop_back();
  const Tensor tokens = taps.block.empty() ? taps.embed : taps.block.back();  // [N, D]

  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"crop.box", Tensor::from_floats({static_cast<float>(box[0]), static_cast<float>(box[1]),
                                        static_cast<float>(box[2]), static_cast<float>(box[3])},
                                       {4})},
      {"frame.u8", u8_tensor(frame_u8)},
      {"frame", frame},
      {"clip.resized", resized},
      {"clip.pixels", pixels},
      {"tap.embed", taps.embed}};
  for (size_t i = 0; i < taps.block.size(); ++i) tensors.emplace_back("tap.block." + std::to_string(i), taps.block[i]);
  tensors.emplace_back("tokens", tokens);
  tensors.emplace_back("contrast.all_blocks", all);
  tensors.emplace_back("contrast.all_blocks_post_norm", clip.post_norm(all));
  if (args.has("vae")) {
    if (latent_frames < 1)
      throw Error("--vae: give --latent-frames F (1 or more; MG2 plays 150, its streaming demo up to 360)");
    const WeightMap vw = WeightMap::open(args.require("vae"));
    tensors.emplace_back("cond_concat", mg2_cond_concat(WanVaeEncoder(vw), frame, latent_frames));  // [F, 20, h, w]
    tensors.emplace_back("visual_context", tokens);
  }
  std::map<std::string, std::string> meta = {
      {"format", "wan-clip-vision-output"},
      {"weights", weights},
      {"source", source},
      {"frame_hw", nlohmann::json::array({th, tw}).dump()},
      {"image_hw", nlohmann::json::array({image.height, image.width}).dump()},
      {"blocks_run", std::to_string(taps.block.size())},
      {"precision", ops::precision_name(precision)}};
  if (latent_frames) meta["latent_frames"] = std::to_string(latent_frames);
  write_safetensors(out, tensors, meta);
  std::fprintf(stderr, "encode: %lldx%lld image -> %lldx%lld frame -> CLIP %lld tokens x %lld (%zu of %lld blocks, %s) -> %s\n",
               static_cast<long long>(image.width), static_cast<long long>(image.height), static_cast<long long>(tw),
               static_cast<long long>(th), static_cast<long long>(tokens.dim(0)), static_cast<long long>(tokens.dim(1)),
               taps.block.size(), static_cast<long long>(clip.config().layers), ops::precision_name(precision),
               out.c_str());
  return 0;
}

}  // namespace wl::app
