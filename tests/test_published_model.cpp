// A published model directory (runtime/model/published_model.h) goes from
// files to frames: a tiny causal Wan DiT laid out like a distilled checkpoint,
// the tiny umT5 encoder and its SentencePiece model under the downloads'
// names, with no pixel decoder (the latent preview) or with the tiny Wan VAE
// and TAEHV decoders. In process and through
// `worldloop play --model DIR --headless`.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <stdlib.h>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/latent_video_decoder.h"
#include "runtime/model/published_model.h"
#include "runtime/model/world_session.h"
#include "tests/support/golden.h"
#include "tests/support/random_checkpoint.h"
#include "tests/support/tiny_published_model.h"
#include "tests/support/torch_save_writer.h"

namespace wl {
namespace {
namespace fs = std::filesystem;

// The Wan folder's names, a DiT wrapped like Self Forcing's (generator_ema +
// model.), and a model.json that shrinks the video to 64x48 (8x6 latents).
fs::path write_tiny_model(const std::string& name, const std::string& dit_file = "self_forcing_dmd.safetensors",
                          bool manifest = true) {
  const fs::path dir = fs::path(test::temp_dir()) / name;
  testref::write_tiny_published_files(dir.string(), dit_file);
  if (manifest) {
    std::ofstream(dir / "model.json") << R"({"family": "self_forcing",
      "files": {"dit": ")" << dit_file << R"(", "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors",
                "tokenizer": "google/umt5-xxl/spiece.model"},
      "video": {"width": 64, "height": 48, "fps": 16},
      "cache": {"budget_frames": 9}})";
  }
  return dir;
}

// write_tiny_model plus the tiny Wan VAE and TAEHV decoders under the
// downloads' roles (vae, taehv) in model.json; `extra` goes into model.json
// (`"decoder": "vae",` say).
fs::path write_tiny_model_with_decoders(const std::string& name, const std::string& extra) {
  const fs::path dir = write_tiny_model(name, "self_forcing_dmd.safetensors", /*manifest=*/false);
  fs::copy_file(test::data_path("wanvae_tiny.weights.safetensors"), dir / "Wan2.1_VAE.safetensors",
                fs::copy_options::overwrite_existing);
  fs::copy_file(test::data_path("taehv_tiny.weights.safetensors"), dir / "taew2_1.safetensors",
                fs::copy_options::overwrite_existing);
  std::ofstream(dir / "model.json") << "{" << extra << R"( "family": "self_forcing",
      "files": {"dit": "self_forcing_dmd.safetensors", "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors",
                "tokenizer": "google/umt5-xxl/spiece.model", "vae": "Wan2.1_VAE.safetensors",
                "taehv": "taew2_1.safetensors"},
      "video": {"width": 64, "height": 48, "fps": 16},
      "cache": {"budget_frames": 9}})";
  return dir;
}

// The safetensors DiT at `from` rewritten as a torch.save file laid out like
// self_forcing_dmd.pt: {"generator_ema": {"model.<name>": tensor}}, F32.
void write_as_torch_save(const fs::path& from, const fs::path& to) {
  const SafetensorsFile st = SafetensorsFile::open(from.string());
  test::PickleOut p;
  p.empty_dict();
  p.str("generator_ema");
  p.empty_dict();
  p.mark();
  std::vector<std::pair<std::string, test::Bytes>> storages;
  for (const std::string& name : st.names()) {
    const Tensor t = st.get_f32(name);
    const std::string key = std::to_string(storages.size());
    const std::string plain = name.rfind("generator_ema.model.", 0) == 0 ? name.substr(20) : name;
    p.str("model." + plain);
    p.tensor("FloatStorage", key, t.numel(), 0, t.shape(), test::contiguous_strides(t.shape()));
    storages.emplace_back(key, test::tensor_bytes(t));
  }
  p.op('u');  // SETITEMS into the inner dict
  p.op('s');  // SETITEM generator_ema
  p.stop();
  test::write_file(to.string(), test::make_pt("self_forcing_dmd", p.bytes, storages));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PublishedModel, PlaysFromFilesToFramesInProcess) {
  const fs::path dir = write_tiny_model("pm_inproc");
  ASSERT_TRUE(is_published_model_dir(dir.string()));
  std::vector<std::string> notes;
  PublishedModelOptions options;
  options.text_cache_dir = (dir / "text-cache").string();
  auto world = open_published_model(dir.string(), options, &notes);
  const WorldDescription& d = world->description();
  EXPECT_EQ(d.latent_channels, 16);
  EXPECT_EQ(d.latent_height, 6);
  EXPECT_EQ(d.latent_width, 8);
  EXPECT_EQ(d.chunk, 3);
  EXPECT_EQ(d.steps, (std::vector<int>{1000, 750, 500, 250}));
  EXPECT_EQ(world->decoder().kind(), "latent preview");
  EXPECT_FALSE(notes.empty());  // says the frames are the latent preview
  const Tensor ctx = world->prompt_context("a snowy forest");
  EXPECT_EQ(ctx.shape(), (Shape{512, 64}));

  WorldSession session(*world, {}, 3, "a snowy forest");
  std::vector<FrameActions> actions(3);
  std::vector<uint8_t> rgb;
  for (int c = 0; c < 3; ++c) {
    if (c == 2) session.set_prompt("a desert at noon");
    const Tensor z = session.next_chunk(actions);  // [3, 16, 6, 8]
    ASSERT_EQ(z.shape(), (Shape{3, 16, 6, 8}));
    const std::vector<float> v = z.to_floats();
    for (float x : v) ASSERT_TRUE(std::isfinite(x));
    world->decoder().decode_rgb8(z, rgb);
    EXPECT_EQ(rgb.size(), 3u * 6 * 8 * 3);
  }
  // The same prompt twice: the encoder's cache gives the same context.
  EXPECT_EQ(world->prompt_context("a snowy forest").to_floats(), ctx.to_floats());
}

TEST(PublishedModel, RollingForcingPlaysItsWindow) {
  const fs::path dir = write_tiny_model("pm_rolling");
  std::ofstream(dir / "model.json") << R"({"family": "rolling_forcing",
    "files": {"dit": "self_forcing_dmd.safetensors", "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors",
              "tokenizer": "google/umt5-xxl/spiece.model"},
    "video": {"width": 64, "height": 48}})";
  PublishedModelOptions options;
  options.text_cache_dir = "";
  auto world = open_published_model(dir.string(), options);
  EXPECT_EQ(world->description().mode, SamplerMode::Rolling);
  EXPECT_EQ(world->description().steps.size(), 5u);
  WorldSession session(*world, {}, 7, "a river");
  std::vector<FrameActions> actions(3);
  Tensor first;
  for (int c = 0; c < 10; ++c) {  // past the window (5 chunks) and the 24-frame cache
    const Tensor z = session.next_chunk(actions);  // [3, 16, 6, 8]
    ASSERT_EQ(z.shape(), (Shape{3, 16, 6, 8}));
    for (float x : z.to_floats()) ASSERT_TRUE(std::isfinite(x));
    if (c == 0) first = z;
  }
  // Another session with the same seed makes the same first chunk.
  WorldSession again(*world, {}, 7, "a river");
  EXPECT_EQ(again.next_chunk(actions).to_floats(), first.to_floats());
  EXPECT_NE(error_of([&] {
              std::ofstream(dir / "model.json") << R"({"family": "rolling_forcing", "cache": {"sink_frames": 0},
    "files": {"dit": "self_forcing_dmd.safetensors", "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors",
              "tokenizer": "google/umt5-xxl/spiece.model"}})";
              open_published_model(dir.string(), options);
            }).find("sink_frames must be 3"),
            std::string::npos);
}

TEST(PublishedModel, MergesALoraGivenInModelJsonOrOnTheCommandLine) {
  const fs::path dir = write_tiny_model("pm_lora");
  // A bare PEFT LoRA of rank 2 on one target of the tiny DiT (dim 128).
  Tensor a = Tensor::zeros({2, 128}), b = Tensor::zeros({128, 2});
  a.f32()[0] = 1.0f;
  b.f32()[0] = 0.5f;
  write_safetensors((dir / "lora.safetensors").string(),
                    {{"base_model.model.blocks.0.self_attn.q.lora_A.weight", a},
                     {"base_model.model.blocks.0.self_attn.q.lora_B.weight", b}});
  PublishedModelOptions options;
  options.text_cache_dir = "";
  options.loras.push_back(LoraFile{"lora.safetensors", 2.0f, 4.0f});
  std::vector<std::string> notes;
  auto world = open_published_model(dir.string(), options, &notes);
  bool said = false;
  for (const std::string& n : notes) said |= n.find("lora.safetensors") != std::string::npos;
  EXPECT_TRUE(said) << "the first-run log names the merged LoRA";

  options.loras.push_back(LoraFile{"lora.safetensors", 1.0f, 8.0f});
  EXPECT_NE(error_of([&] { open_published_model(dir.string(), options); }).find("different alphas"),
            std::string::npos);
  options.loras = {LoraFile{"missing.pt", 1.0f, std::nullopt}};
  EXPECT_NE(error_of([&] { open_published_model(dir.string(), options); }).find("missing.pt"), std::string::npos);
}

TEST(PublishedModel, ReadsTheDistilledCheckpointAsATorchSaveFile) {
  const fs::path dir = write_tiny_model("pm_pt", "dit.safetensors", /*manifest=*/false);
  write_as_torch_save(dir / "dit.safetensors", dir / "self_forcing_dmd.pt");
  fs::remove(dir / "dit.safetensors");
  PublishedModelOptions options;
  options.text_cache_dir = "";
  auto world = open_published_model(dir.string(), options);  // detected: the .pt is the DiT
  EXPECT_EQ(world->description().files.at("dit"), "self_forcing_dmd.pt");
  WorldSession session(*world, {}, 1, "a lake");
  std::vector<FrameActions> actions(3);
  const Tensor z = session.next_chunk(actions);
  EXPECT_EQ(z.shape(), (Shape{3, 16, 60, 104}));
}

TEST(PublishedModel, InspectWritesAManifestThatPlayReads) {
  const fs::path dir = write_tiny_model("pm_manifest", "self_forcing_dmd.safetensors", /*manifest=*/false);
  std::string out;
  ASSERT_EQ(test::run_worldloop("inspect " + dir.string() + " --write-manifest " + dir.string(), &out), 0) << out;
  ASSERT_TRUE(fs::exists(dir / "model.json")) << out;
  const ModelManifest m = ModelManifest::read(dir.string());
  EXPECT_EQ(m.files.at("dit"), "self_forcing_dmd.safetensors");
  EXPECT_EQ(m.files.at("tokenizer"), "google/umt5-xxl/spiece.model");
  EXPECT_EQ(m.family, "self_forcing");
  PublishedModelOptions options;
  options.text_cache_dir = "";
  EXPECT_EQ(open_published_model(dir.string(), options)->description().chunk, 3);
}

TEST(PublishedModel, DetectsTheRolesWithoutAManifest) {
  const fs::path dir = write_tiny_model("pm_detect", "self_forcing_dmd.safetensors", /*manifest=*/false);
  auto world = open_published_model(dir.string(), {});
  EXPECT_EQ(world->description().latent_height, 60);  // the default 832x480
  EXPECT_EQ(world->description().latent_width, 104);
}

TEST(PublishedModel, SaysWhatIsMissingOrNotSupportedYet) {
  const fs::path dir = write_tiny_model("pm_errors");
  fs::remove(dir / "models_t5_umt5-xxl-enc-bf16.safetensors");
  std::string e = error_of([&] { open_published_model(dir.string(), {}); });
  EXPECT_NE(e.find("models_t5_umt5-xxl-enc-bf16.safetensors: missing"), std::string::npos) << e;

  const fs::path no_text = write_tiny_model("pm_no_tokenizer");
  std::ofstream(no_text / "model.json") << R"({"files": {"dit": "self_forcing_dmd.safetensors",
    "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors"}})";
  e = error_of([&] { open_published_model(no_text.string(), {}); });
  EXPECT_NE(e.find("umT5 tokenizer"), std::string::npos) << e;
}

TEST(PublishedModel, PlayHeadlessRecordsItsFrames) {
  const fs::path dir = write_tiny_model("pm_play");
  const fs::path out = dir / "out.y4m";
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);  // the prompt embeddings' disk cache
  std::string log;
  ASSERT_EQ(test::run_worldloop("play --model " + dir.string() + " --headless --frames 30 --threads 2 --record " +
                                    out.string() + " --config " + (dir / "config.json").string(),
                                &log),
            0)
      << log;
  ASSERT_TRUE(fs::exists(out)) << log;
  std::ifstream in(out, std::ios::binary);
  const std::string y4m((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(y4m.rfind("YUV4MPEG2 W8 H6", 0), 0u) << y4m.substr(0, 40);
  size_t frames = 0;
  for (size_t p = y4m.find("FRAME"); p != std::string::npos; p = y4m.find("FRAME", p + 5)) ++frames;
  EXPECT_GE(frames, 30u);
  EXPECT_NE(log.find("latent preview"), std::string::npos) << log;
}

// Which pixel decoder play shows: TAEHV when the directory has one, else the
// VAE, else the latent preview; --decoder and model.json choose, and each
// decoder's stream names are checked. With a decoder, frames are 8x the latent
// size, 4 per latent frame, at the video's fps.
TEST(PublishedModel, ShowsThePixelDecodersFrames) {
  const fs::path dir = write_tiny_model_with_decoders("pm_decoders", "");
  std::vector<std::string> notes;
  PublishedModelOptions options;
  options.text_cache_dir = "";
  std::unique_ptr<World> world = open_published_model(dir.string(), options, &notes);
  ASSERT_NE(world->video_decoder(), nullptr);
  EXPECT_EQ(world->video_decoder()->kind(), LatentDecoderKind::Taehv);
  EXPECT_FALSE(world->video_decoder()->demo());
  EXPECT_EQ(world->description().image_width, 64);
  EXPECT_EQ(world->description().image_height, 48);
  EXPECT_EQ(world->description().frames_per_latent, 4);
  EXPECT_DOUBLE_EQ(world->description().fps, 16.0);
  bool noted = false;
  for (const std::string& n : notes) noted |= n.find("TAEHV") != std::string::npos && n.find("taew2_1") != std::string::npos;
  EXPECT_TRUE(noted) << "no note names the decoder and its file";

  options.decoder = "vae";
  world = open_published_model(dir.string(), options, &notes);
  ASSERT_NE(world->video_decoder(), nullptr);
  EXPECT_EQ(world->video_decoder()->kind(), LatentDecoderKind::Vae);
  EXPECT_FALSE(world->video_decoder()->demo());
  options.decoder_stream = "demo";
  world = open_published_model(dir.string(), options, &notes);
  ASSERT_NE(world->video_decoder(), nullptr);
  EXPECT_EQ(world->video_decoder()->kind(), LatentDecoderKind::Vae);
  EXPECT_TRUE(world->video_decoder()->demo());

  options.decoder = "preview";
  options.decoder_stream = "";
  world = open_published_model(dir.string(), options, &notes);
  EXPECT_EQ(world->video_decoder(), nullptr);
  EXPECT_EQ(world->description().image_width, 8);
  EXPECT_EQ(world->description().frames_per_latent, 1);

  options.decoder = "taehv";
  options.decoder_stream = "pipeline";
  std::string e = error_of([&] { open_published_model(dir.string(), options); });
  EXPECT_NE(e.find("stream 'pipeline' is not carried or demo"), std::string::npos) << e;
  options.decoder = "tae";
  options.decoder_stream = "";
  e = error_of([&] { open_published_model(dir.string(), options); });
  EXPECT_NE(e.find("decoder 'tae' is not vae, taehv or preview"), std::string::npos) << e;

  // model.json's choice, and its stream checked the same way.
  options.decoder = "";
  options.decoder_stream = "carried";
  const fs::path vae_json = write_tiny_model_with_decoders("pm_vae_json", R"( "decoder": "vae",)");
  e = error_of([&] { open_published_model(vae_json.string(), options); });
  EXPECT_NE(e.find("stream 'carried' is not pipeline or demo"), std::string::npos) << e;

  fs::remove(vae_json / "Wan2.1_VAE.safetensors");
  std::ofstream(vae_json / "model.json") << R"({"files": {"dit": "self_forcing_dmd.safetensors",
    "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors", "tokenizer": "google/umt5-xxl/spiece.model"},
    "decoder": "vae", "video": {"width": 64, "height": 48}, "cache": {"budget_frames": 9}})";
  e = error_of([&] { open_published_model(vae_json.string(), {}); });
  EXPECT_NE(e.find("has no Wan2.1_VAE.pth"), std::string::npos) << e;
}

// play headless with TAEHV: 4 frames per latent frame at 8x the latent size,
// every chunk whole (the first chunk's missing frames come from decoding
// ahead), and a run that ends inside a 12-frame chunk stops at its last frame.
TEST(PublishedModel, PlayHeadlessRecordsDecodedFrames) {
  const fs::path dir = write_tiny_model_with_decoders("pm_play_taehv", "");
  const fs::path out = dir / "out.y4m";
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);
  std::string log;
  ASSERT_EQ(test::run_worldloop("play --model " + dir.string() + " --headless --frames 30 --threads 2 --record " +
                                    out.string() + " --config " + (dir / "config.json").string(),
                                &log),
            0)
      << log;
  std::ifstream in(out, std::ios::binary);
  const std::string y4m((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(y4m.rfind("YUV4MPEG2 W64 H48 F16000:1000 ", 0), 0u) << y4m.substr(0, 40);
  const size_t header = y4m.find('\n') + 1;
  EXPECT_EQ(y4m.size(), header + 30 * (6 + 64 * 48 * 3 / 2)) << "not the 30 frames asked for";
  EXPECT_NE(log.find("TAEHV"), std::string::npos) << log;

  ASSERT_EQ(test::run_worldloop("play --model " + dir.string() + " --headless --frames 12 --threads 2 --decoder vae "
                                    "--vae-stream demo --config " + (dir / "config.json").string(),
                                &log),
            0)
      << log;
  EXPECT_NE(log.find("Wan 2.1 VAE"), std::string::npos) << log;
  EXPECT_NE(log.find("demo"), std::string::npos) << log;
}


// The frames of a y4m file, each "FRAME\n" and its bytes.
std::vector<std::string> y4m_frames(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string y4m((std::istreambuf_iterator<char>(in)), {});
  std::vector<size_t> at;
  for (size_t p = y4m.find("FRAME\n"); p != std::string::npos; p = y4m.find("FRAME\n", p + 6)) at.push_back(p);
  std::vector<std::string> frames;
  for (size_t i = 0; i < at.size(); ++i)
    frames.push_back(y4m.substr(at[i], (i + 1 < at.size() ? at[i + 1] : y4m.size()) - at[i]));
  return frames;
}

// Saved world states of a world shown through a streaming pixel decoder: the
// Wan VAE's convolution caches, TAEHV's memories, the demo window's context
// and the frames decoded past the chunk travel with the state, so that a run
// loaded from frame K records exactly the frames K+1..N of the saved run, for
// both decoders in both stream semantics.
TEST(PublishedModel, StatesCarryThePixelDecodersStream) {
  const fs::path dir = write_tiny_model_with_decoders("pm_decoder_states", "");
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);
  const std::string common = " --headless --threads 2 --config " + (dir / "config.json").string();
  const int n = 29, k = 11;  // k inside a chunk
  for (const std::string& flags : {std::string("--decoder vae"), std::string("--decoder vae --vae-stream demo"),
                                   std::string("--decoder taehv"), std::string("--decoder taehv --taehv-stream demo")}) {
    const fs::path a = dir / "a.y4m", b = dir / "b.y4m", state = dir / "s.state";
    fs::remove(a);
    fs::remove(b);
    std::string log;
    ASSERT_EQ(test::run_worldloop("play --model " + dir.string() + " " + flags + common + " --seed 5 --frames " +
                                      std::to_string(n) + " --save-state-at " + std::to_string(k) + " " +
                                      state.string() + " --record " + a.string(),
                                  &log),
              0)
        << flags << "\n" << log;
    ASSERT_EQ(test::run_worldloop("play --model " + dir.string() + " " + flags + common + " --load " + state.string() +
                                      " --frames " + std::to_string(n - k) + " --record " + b.string(),
                                  &log),
              0)
        << flags << "\n" << log;
    const std::vector<std::string> fa = y4m_frames(a), fb = y4m_frames(b);
    ASSERT_GE(fa.size(), static_cast<size_t>(n)) << flags;
    ASSERT_GE(fb.size(), static_cast<size_t>(n - k)) << flags;
    for (int i = 0; i < n - k; ++i) EXPECT_TRUE(fb[i] == fa[k + i]) << flags << ": frame " << k + 1 + i << " differs";
    // Another decoder cannot take the state.
    const std::string other = flags.find("vae") != std::string::npos ? "--decoder taehv" : "--decoder vae";
    EXPECT_NE(test::run_worldloop("play --model " + dir.string() + " " + other + common + " --load " + state.string() +
                                      " --frames 3",
                                  &log),
              0)
        << flags;
    EXPECT_NE(log.find(state.string()), std::string::npos) << log;
  }
}

// --decode-overlap on: the decoder thread decodes a chunk while the DiT
// denoises the next, and the frames are the same bytes as decoding in turn,
// in every decoder and semantics, across a state saved mid-chunk with a
// decode in flight and loaded again. --threads 1 keeps the DiT's team the
// same in both runs (team sizes change the last bits of some f32 sums).
TEST(PublishedModel, DecodingBesideTheDitGivesTheSameFrames) {
  const fs::path dir = write_tiny_model_with_decoders("pm_decode_overlap", "");
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);
  const std::string common = " --headless --threads 1 --config " + (dir / "config.json").string();
  const int n = 26, k = 9;
  for (const std::string& flags : {std::string("--decoder vae"), std::string("--decoder vae --vae-stream demo"),
                                   std::string("--decoder taehv"), std::string("--decoder taehv --taehv-stream demo")}) {
    const fs::path off = dir / "off.y4m", on = dir / "on.y4m", rest = dir / "rest.y4m", state = dir / "s.state";
    for (const fs::path& p : {off, on, rest, state}) fs::remove(p);
    const std::string play = "play --model " + dir.string() + " " + flags + common;
    std::string log;
    ASSERT_EQ(test::run_worldloop(play + " --seed 3 --decode-overlap off --frames " + std::to_string(n) + " --record " +
                                      off.string(), &log), 0) << flags << "\n" << log;
    ASSERT_EQ(test::run_worldloop(play + " --seed 3 --decode-overlap on --frames " + std::to_string(n) + " --record " +
                                      on.string() + " --save-state-at " + std::to_string(k) + " " + state.string(),
                                  &log), 0) << flags << "\n" << log;
    EXPECT_NE(log.find("decoding beside the DiT"), std::string::npos) << log;
    ASSERT_EQ(test::run_worldloop(play + " --decode-overlap on --load " + state.string() + " --frames " +
                                      std::to_string(n - k) + " --record " + rest.string(), &log), 0)
        << flags << "\n" << log;
    const std::vector<std::string> a = y4m_frames(off), b = y4m_frames(on), c = y4m_frames(rest);
    ASSERT_GE(a.size(), static_cast<size_t>(n)) << flags;
    ASSERT_EQ(b.size(), a.size()) << flags;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << flags << ": frame " << i + 1 << " differs";
    ASSERT_GE(c.size(), static_cast<size_t>(n - k)) << flags;
    for (int i = 0; i < n - k; ++i) EXPECT_TRUE(c[i] == a[k + i]) << flags << ": loaded frame " << k + 1 + i << " differs";
  }
}

}  // namespace
}  // namespace wl
