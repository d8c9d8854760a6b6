#include "app/loop/play_window.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>

#include <SDL.h>

#include "app/loop/cuda_frame_hand_off.h"
#include "app/loop/frame_path.h"
#include "app/loop/keyboard_sdl.h"
#include "app/loop/play_session.h"
#include "render/presenter.h"
#include "render/vk_driver_problem.h"
#include "ui/imgui_layer.h"
#include "ui/overlay.h"
#include "ui/thumbnail.h"

namespace wl::app {

namespace {

std::string timestamped(const char* prefix, const char* ext) {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return std::string(prefix) + buf + ext;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// SDL video for the lifetime of the window.
struct SdlVideo {
  SdlVideo() {
    const char* display = std::getenv("DISPLAY");
    const char* wayland = std::getenv("WAYLAND_DISPLAY");
    if ((!display || !*display) && (!wayland || !*wayland))
      throw std::runtime_error("no display: set DISPLAY or run with --headless");
    if (SDL_Init(SDL_INIT_VIDEO) != 0)
      throw std::runtime_error(std::string("no display: cannot open it (") + SDL_GetError() +
                               "); set DISPLAY or run with --headless");
    // When X11 and Wayland both fail (DISPLAY=:77 with no server there), SDL
    // falls back to its offscreen driver, which has no window to show: say
    // which display failed rather than "no Vulkan device" later on.
    const char* driver = SDL_GetCurrentVideoDriver();
    const char* asked = std::getenv("SDL_VIDEODRIVER");
    if (driver && (!asked || !*asked) && (std::string(driver) == "offscreen" || std::string(driver) == "dummy")) {
      SDL_Quit();
      throw std::runtime_error(std::string("no display: cannot open ") +
                               (display && *display ? "DISPLAY '" + std::string(display) + "'"
                                                    : "WAYLAND_DISPLAY '" + std::string(wayland) + "'") +
                               " (is an X server or compositor running there?); set DISPLAY or run with --headless");
    }
  }
  ~SdlVideo() { SDL_Quit(); }
};

struct SdlWindow {
  SDL_Window* window = nullptr;
  SdlWindow() {
    window = SDL_CreateWindow("worldloop", SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, 1280, 720,
                              SDL_WINDOW_VULKAN | SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
    if (!window) {
      const std::string err = SDL_GetError();
      // SDL loads the Vulkan loader here and asks it for surface support,
      // which only drivers give: "doesn't implement VK_KHR_surface" means none loaded.
      if (err.find("libvulkan") != std::string::npos)
        throw std::runtime_error("no Vulkan loader: " + err + " (install libvulkan1)");
      if (err.find("Vulkan") != std::string::npos)
        throw std::runtime_error(render::describe_vulkan_driver_problem(render::vulkan_driver_facts(), err));
      throw std::runtime_error("cannot create the window: " + err);
    }
  }
  ~SdlWindow() { SDL_DestroyWindow(window); }
};

// The device path of the frame hand-off when everything allows it
// (app/frame_path.h): the source then writes into the returned hand-off.
// Null: the host path. Logs which path is active and why.
std::unique_ptr<CudaFrameHandOff> start_device_path(render::Presenter& presenter, FrameSource& source,
                                                    Backend backend) {
  FramePathInputs in;
  in.window = true;
  in.backend = backend;
  in.source_on_device = source.decodes_on_device();
  in.hand_off_built = cuda_frame_hand_off_built();
  if (in.backend == Backend::CUDA && in.source_on_device && in.hand_off_built)
    in.presenter_cannot = cuda_frame_hand_off_unavailable(presenter);
  FramePathChoice choice = choose_frame_path(in);
  std::unique_ptr<CudaFrameHandOff> hand_off;
  if (choice.path == FramePath::Device) {
    try {
      // Enough slots for a full mailbox, the chunk being written and the frames on screen.
      const int k = std::max(1, source.chunk_frames());
      const int slots = static_cast<int>(mailbox_capacity(k)) + k + 3;
      const FrameFormat f = source.format();
      hand_off = make_cuda_frame_hand_off(presenter, f.width, f.height, slots);
      source.set_device_sink(hand_off.get());
    } catch (const std::exception& e) {
      hand_off.reset();
      choice = {FramePath::Host, std::string("the device path failed to start: ") + e.what()};
    }
  }
  std::fprintf(stderr, "worldloop play: %s\n", describe(choice).c_str());
  return hand_off;
}

constexpr int kThumbnailSide = 32;  // pixels of a saved state's picture in the controls panel

}  // namespace

int run_window(const PlayOptions& options, const PlayConfig& user_config) {
  const Backend backend = play_backend(options);
  std::unique_ptr<FrameSource> source = make_frame_source(options, backend);  // model errors before any window
  const PlayConfig config = with_source_presets(user_config, *source);
  const KeyBindings bindings(config);
  SdlVideo video;
  SdlWindow win;
  render::PresenterOptions po;
  po.vsync = options.vsync;
#ifndef NDEBUG
  po.validation = true;
#endif
  if (options.vk_validation) po.validation = true;
  // The hand-off's Vulkan extensions only where device frames could follow.
  po.cuda_interop = backend == Backend::CUDA && source->decodes_on_device() && cuda_frame_hand_off_built();
  render::Presenter presenter(win.window, po);
  // Declared after the presenter and before the session: the session's frames
  // hold ring slots, so they go first, then the hand-off, then the presenter.
  const std::unique_ptr<CudaFrameHandOff> hand_off = start_device_path(presenter, *source, backend);
  ui::ImGuiLayer imgui(win.window, presenter);
  ui::Overlay overlay;
  ui::OverlayView view;
  view.visible = options.overlay;

  PlaySession session(std::move(source), options, config, WorldLoopOptions::Pacing::RealTime);
  ui::OverlayState state;
  state.device_name = presenter.context().device_name;
  if (po.validation)
    std::fprintf(stderr, "worldloop play: Vulkan validation %s\n",
                 presenter.context().validation_enabled
                     ? "layer on (its warnings and errors go to stderr as 'vulkan: ...')"
                     : "asked for, but VK_LAYER_KHRONOS_validation is not installed (vulkan-validationlayers)");
  state.presets = config.presets;
  state.source_name = options.model.empty() ? "default world" : options.model;
  state.chunk_frames = session.source().chunk_frames();
  state.compute = session.source().compute_description();
  state.prompt = session.initial_prompt();
  state.seed = options.seed;
  session.start();

  std::optional<Frame> shown;          // the frame on screen
  bool record_path_used = options.record.empty() ? false : true;
  int64_t frames_shown = 0;
  bool quit = false;
  std::string pending_screenshot;
  Clock::time_point last_present = Clock::now(), last_world = last_present;
  std::string pending_prompt;
  int rc = 0;

  auto toggle_record = [&] {
    if (session.recording()) {
      const std::string desc = session.recording_description();
      const std::string err = session.stop_recording();
      state.status_line = err.empty() ? "recorded " + desc : "recording failed: " + err;
      return;
    }
    const std::string path = !record_path_used && !options.record.empty() ? options.record
                                                                           : timestamped("worldloop-", ".mp4");  // F9: H.264, playable anywhere
    record_path_used = true;
    try {
      session.start_recording(path);
      state.status_line = "recording to " + path;
    } catch (const std::exception& e) {
      state.status_line = std::string("cannot record: ") + e.what();
    }
  };
  auto submit_prompt = [&](const std::string& p) {
    InputEvent e = input_event_now(InputEvent::Kind::Prompt);
    e.text = p;
    pending_prompt = p;
    session.inputs().push(std::move(e));
  };
  auto reset_world = [&](uint64_t seed) {
    InputEvent e = input_event_now(InputEvent::Kind::Reset);
    e.seed = seed;
    session.inputs().push(std::move(e));
  };
  std::vector<std::string> saved_state_files;  // F5, oldest first
  auto save_state = [&] {
    const std::string path = timestamped("worldloop-", ("-" + std::to_string(saved_state_files.size() + 1) + ".state").c_str());
    InputEvent e = input_event_now(InputEvent::Kind::SaveState);
    e.text = path;
    session.inputs().push(std::move(e));
    saved_state_files.push_back(path);
    state.saved_states.push_back(path + " (frame " + std::to_string(session.loop().status().frames_made) + ")");
    // The picture on screen now (the state is taken at the next chunk boundary, a chunk or so on).
    state.saved_thumbnails.push_back(shown && shown->rgb ? ui::make_thumbnail(shown->pixels(), shown->format.width,
                                                                             shown->format.height, kThumbnailSide)
                                                         : ui::Thumbnail{});
    state.status_line = "saving the world to " + path;
  };
  auto load_state = [&](size_t i) {
    if (i >= saved_state_files.size()) {
      state.status_line = "no state saved yet (F5 saves one; play --load FILE opens an older one)";
      return;
    }
    InputEvent e = input_event_now(InputEvent::Kind::LoadState);
    e.text = saved_state_files[i];
    session.inputs().push(std::move(e));
  };
  uint64_t current_seed = options.seed;
  std::string last_notice;

  int quit_draw_tries = 0;
  bool quitting = false;  // quit asked with --screenshot still to write: one more frame is drawn for it
  while (!quit || quitting) {
    SDL_Event ev;
    while (SDL_PollEvent(&ev)) {
      imgui.process_event(ev);
      if (ev.type == SDL_QUIT) quit = true;
      if (ev.type == SDL_WINDOWEVENT &&
          (ev.window.event == SDL_WINDOWEVENT_SIZE_CHANGED || ev.window.event == SDL_WINDOWEVENT_RESIZED))
        presenter.notify_resized();
      if (ev.type == SDL_KEYDOWN && !ev.key.repeat && !imgui.wants_keyboard()) {
        const auto hit = bindings.command_for(ev.key.keysym.scancode);
        if (!hit) continue;
        switch (hit->command) {
          case KeyCommand::Quit: quit = true; break;
          case KeyCommand::Pause: session.inputs().push(input_event_now(InputEvent::Kind::TogglePause)); break;
          case KeyCommand::Step: session.inputs().push(input_event_now(InputEvent::Kind::Step)); break;
          case KeyCommand::Reset: reset_world(current_seed); break;
          case KeyCommand::Screenshot: pending_screenshot = timestamped("worldloop-", ".png"); break;
          case KeyCommand::Record: toggle_record(); break;
          case KeyCommand::SaveState: save_state(); break;
          case KeyCommand::LoadState: load_state(saved_state_files.empty() ? 0 : saved_state_files.size() - 1); break;
          case KeyCommand::Overlay: view.visible = !view.visible; break;
          case KeyCommand::Preset:
            if (hit->preset < static_cast<int>(config.presets.size())) submit_prompt(config.presets[hit->preset]);
            break;
        }
      }
    }
    if (quit && !quitting) {
      if (options.screenshot.empty()) break;
      quitting = true;  // --screenshot is honoured when quitting early (Esc, the window's close, SIGINT)
    }
    if (SDL_GetWindowFlags(win.window) & SDL_WINDOW_MINIMIZED) {
      if (quitting) break;  // nothing to read back from a minimised window
      SDL_WaitEventTimeout(nullptr, 50);  // nothing to draw into; the world keeps running
      continue;
    }

    // Per-frame action sampling (not while typing in the prompt box).
    InputEvent sample = input_event_now(InputEvent::Kind::Actions);
    if (!imgui.wants_keyboard()) sample.actions.keys = bindings.held_actions(SDL_GetKeyboardState(nullptr));
    session.inputs().push(sample);

    // The newest frame that is due.
    const Clock::time_point now = Clock::now();
    if (std::optional<Frame> fresh = session.mailbox().take_due(now)) {
      if (shown) state.world_ms.push(static_cast<float>(ms_between(last_world, now)));
      last_world = now;
      if (fresh->input_time != Clock::time_point{})
        state.latency_ms.push(static_cast<float>(ms_between(fresh->input_time, now)));
      if (!shown || shown->chunk != fresh->chunk) {
        state.cache = fresh->stats->cache;
        state.stages = {fresh->stats->stages.denoise_ms, fresh->stats->stages.cache_update_ms,
                        fresh->stats->stages.decode_ms, fresh->stats->stages.decode_hidden_ms};
      }
      state.world_frame = fresh->world_frame;
      state.session_frame = fresh->seq;
      state.chunk = fresh->chunk;
      state.prompt = *fresh->prompt;
      state.actions = describe_actions(fresh->actions.keys);
      shown = std::move(fresh);
      ++frames_shown;
    }
    const WorldLoopStatus status = session.loop().status();
    if (!status.error.empty() || status.finished) break;
    state.paused = status.paused;
    if (!status.notice.empty() && status.notice != last_notice) {
      state.status_line = last_notice = status.notice;
      std::fprintf(stderr, "worldloop play: %s\n", status.notice.c_str());  // also for a terminal and the tests
    }
    current_seed = status.seed;
    state.seed = status.seed;
    state.pending_prompt = pending_prompt;
    state.dropped_frames = session.mailbox().dropped();
    state.recording = session.recording();
    state.recording_desc = session.recording_description();
    state.present_mode = presenter.present_mode_name();

    const bool last_frame = quitting || (options.frames > 0 && frames_shown >= options.frames);
    imgui.begin_frame();
    const ui::OverlayActions ui_actions = overlay.draw(state, view);
    imgui.end_frame();
    if (ui_actions.prompt) submit_prompt(*ui_actions.prompt);
    if (ui_actions.reset_seed) reset_world(*ui_actions.reset_seed);
    if (ui_actions.toggle_pause) session.inputs().push(input_event_now(InputEvent::Kind::TogglePause));
    if (ui_actions.cache_policy) {
      InputEvent e = input_event_now(InputEvent::Kind::Cache);
      e.text = *ui_actions.cache_policy;
      e.budget_frames = ui_actions.cache_budget_frames;
      session.inputs().push(std::move(e));
    }
    if (ui_actions.step) session.inputs().push(input_event_now(InputEvent::Kind::Step));
    if (ui_actions.toggle_record) toggle_record();
    if (ui_actions.save_state) save_state();
    if (ui_actions.load_state) load_state(*ui_actions.load_state);
    if (ui_actions.screenshot) pending_screenshot = timestamped("worldloop-", ".png");

    render::DrawRequest req;
    const bool upload = shown && last_world == now;  // a new frame arrived this iteration
    if (upload) {
      if (shown->device && hand_off) {
        req.external = hand_off->show(*shown->device);  // copied on the GPU once CUDA has written it
      } else {
        req.frame_rgb = shown->pixels();
        req.frame_width = shown->format.width;
        req.frame_height = shown->format.height;
      }
      if (!state.cache.token_scores.empty() && !state.cache.token_scores.back().empty()) {
        const cache::TokenScoreGrid& g = state.cache.token_scores.back();
        req.scores = g.scores.data();
        req.score_rows = g.rows;
        req.score_cols = g.cols;
      }
    }
    req.linear_filter = view.linear_filter;
    req.show_heatmap = view.heatmap_on_frame;
    req.heatmap.opacity = view.heatmap_opacity;
    req.overlay = [&](VkCommandBuffer cmd) { imgui.record(cmd); };
    if (last_frame && !options.screenshot.empty()) req.screenshot_path = options.screenshot;
    else if (!pending_screenshot.empty()) req.screenshot_path = pending_screenshot;

    const render::DrawResult drawn = presenter.draw(req);
    if (drawn == render::DrawResult::Skipped && !req.screenshot_path.empty()) {
      if (quitting && ++quit_draw_tries > 20) break;  // a swapchain that never draws: quit without it
      continue;  // retry next frame
    }
    if (!req.screenshot_path.empty()) {
      if (!presenter.screenshot_error().empty()) {
        std::fprintf(stderr, "worldloop play: %s\n", presenter.screenshot_error().c_str());
        if (last_frame) rc = 1;
      } else {
        state.status_line = "screenshot " + req.screenshot_path;
      }
      pending_screenshot.clear();
    }
    const Clock::time_point after = Clock::now();
    state.present_ms.push(static_cast<float>(ms_between(last_present, after)));
    last_present = after;
    if (last_frame) break;
  }

  presenter.wait_idle();
  const std::string err = session.finish();
  if (!err.empty()) {
    std::fprintf(stderr, "worldloop play: %s\n", err.c_str());
    return 1;
  }
  if (options.frames > 0 && frames_shown < options.frames && rc == 0) {
    std::fprintf(stderr, "worldloop play: quit after %lld of %lld frames\n", static_cast<long long>(frames_shown),
                 static_cast<long long>(options.frames));
  }
  return rc;
}

}  // namespace wl::app
