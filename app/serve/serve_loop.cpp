#include "app/serve/serve_loop.h"

#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "app/loop/frame_path.h"
#include "app/loop/play_session.h"
#include "app/loop/stop_signals.h"
#include "app/serve/jpeg_encoder.h"
#include "app/serve/serve_page.h"
#include "app/serve/serve_protocol.h"
#include "app/serve/web_server.h"
#include "cache/cache_policy.h"

namespace wl::app {
namespace {

// 128 bits from the system's random source, as hex.
std::string random_token() {
  std::random_device rd;
  std::string t;
  for (int i = 0; i < 4; ++i) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    t += buf;
  }
  return t;
}

// The keys each connected client holds; the world gets their union.
class HeldKeys {
 public:
  void set(int client, uint32_t keys) {
    std::lock_guard<std::mutex> lock(mu_);
    if (keys) by_client_[client] = keys;
    else by_client_.erase(client);
  }
  void release(int client) { set(client, 0); }
  uint32_t held() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint32_t k = 0;
    for (const auto& [client, keys] : by_client_) k |= keys;
    return k;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, uint32_t> by_client_;
};

// Frames made over the last second.
class RateMeter {
 public:
  void tick(Clock::time_point now) {
    times_.push_back(now);
    while (!times_.empty() && now - times_.front() > std::chrono::seconds(1)) times_.pop_front();
  }
  double per_second() const { return static_cast<double>(times_.size()); }

 private:
  std::deque<Clock::time_point> times_;
};

}  // namespace

int run_serve(const PlayOptions& options, const ServeOptions& serve, const PlayConfig& user_config) {
  const Backend backend = play_backend(options);
  std::unique_ptr<FrameSource> source = make_frame_source(options, backend);
  FramePathInputs path;  // no window: the host path
  path.backend = backend;
  path.source_on_device = source->decodes_on_device();
  std::fprintf(stderr, "worldloop serve: %s\n", describe(choose_frame_path(path)).c_str());
  const PlayConfig config = with_source_presets(user_config, *source);

  ServeHello hello;
  hello.world = options.model.empty() ? "default world" : options.model;
  hello.compute = source->compute_description();
  hello.width = source->format().width;
  hello.height = source->format().height;
  hello.chunk_frames = source->chunk_frames();
  hello.fps = source->nominal_fps();
  hello.presets = config.presets;
  hello.policies = cache::policy_names();
  add_key_maps(hello, config);

  PlaySession session(std::move(source), options, config, WorldLoopOptions::Pacing::RealTime);
  hello.prompt = session.initial_prompt();
  hello.seed = options.seed;

  HeldKeys held;
  std::mutex rejected_mu;
  std::map<int, int> rejected;  // bad messages per client, to say so once
  auto on_message = [&](int client, const std::string& text) {
    ClientMessage m;
    try {
      m = parse_client_message(text);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(rejected_mu);
      if (rejected[client]++ == 0)
        std::fprintf(stderr, "worldloop serve: client %d sent a bad message (%s); ignoring it and any more\n", client,
                     e.what());
      return;
    }
    switch (m.kind) {
      case ClientMessage::Kind::Keys: held.set(client, m.keys); break;
      case ClientMessage::Kind::Prompt: {
        InputEvent e = input_event_now(InputEvent::Kind::Prompt);
        e.text = m.text;
        session.inputs().push(std::move(e));
        break;
      }
      case ClientMessage::Kind::Command:
        if (m.text == "pause") session.inputs().push(input_event_now(InputEvent::Kind::TogglePause));
        else if (m.text == "step") session.inputs().push(input_event_now(InputEvent::Kind::Step));
        else {
          InputEvent e = input_event_now(InputEvent::Kind::Reset);
          e.seed = session.loop().status().seed;
          session.inputs().push(std::move(e));
        }
        break;
      case ClientMessage::Kind::Cache: {
        InputEvent e = input_event_now(InputEvent::Kind::Cache);
        e.text = m.text;
        e.budget_frames = m.budget_frames;
        session.inputs().push(std::move(e));
        break;
      }
    }
  };
  auto on_close = [&](int client) {
    held.release(client);
    std::lock_guard<std::mutex> lock(rejected_mu);
    rejected.erase(client);
  };

  WebServerOptions wo;
  wo.bind = serve.bind;
  wo.port = static_cast<uint16_t>(serve.port);
  wo.token = serve.token.empty() && !is_loopback_address(serve.bind) ? random_token() : serve.token;
  wo.max_clients = serve.max_clients;
  wo.max_message_bytes = kMaxClientMessageBytes;
  wo.page_html = serve_page_html();
  WebServer server(wo, on_message, on_close);
  server.set_hello(hello_json(hello));
  const std::string host = serve.bind.find(':') != std::string::npos ? "[" + serve.bind + "]" : serve.bind;
  std::fprintf(stderr, "worldloop serve: open http://%s:%u/%s (Ctrl-C stops)\n", host.c_str(), server.port(),
               wo.token.empty() ? "" : ("?token=" + wo.token).c_str());
  if (!wo.token.empty() && serve.token.empty())
    std::fprintf(stderr, "worldloop serve: %s is not loopback, so the page needs the token above\n",
                 serve.bind.c_str());

  StopSignals signals;
  session.start();
  JpegEncoder jpeg(serve.jpeg_quality);
  RateMeter rate;
  // Keys are sampled twice per world frame, like a window at twice the world's rate.
  const auto tick = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / std::max(1.0, 2.0 * hello.fps)));
  const auto period = std::max<Clock::duration>(tick, std::chrono::milliseconds(5));
  int64_t published = 0;
  Clock::time_point next = Clock::now();
  while (!stop_signal()) {
    const Clock::time_point now = Clock::now();
    InputEvent sample = input_event_now(InputEvent::Kind::Actions);
    sample.actions.keys = held.held();
    session.inputs().push(sample);
    if (std::optional<Frame> f = session.mailbox().take_due(now)) {
      rate.tick(now);
      const WorldLoopStatus st = session.loop().status();
      const WebServerStats ws = server.stats();
      ServeCounters c;
      c.world_fps = rate.per_second();
      c.frames_dropped = ws.frames_dropped;
      c.clients = ws.clients;
      c.paused = st.paused;
      c.notice = st.notice;
      server.publish_status(std::make_shared<const std::string>(status_json(*f, c)));
      server.publish_frame(std::make_shared<const std::string>(
          frame_message(f->seq, f->actions.keys, jpeg.encode(f->pixels(), f->format.width, f->format.height))));
      ++published;
    }
    const WorldLoopStatus st = session.loop().status();
    if (!st.error.empty() || st.finished) break;
    if (options.frames > 0 && published >= options.frames) break;
    next += period;
    if (next < now) next = now + period;
    std::this_thread::sleep_until(next);
  }
  const WebServerStats ws = server.stats();
  server.stop();
  const std::string err = session.finish();
  if (!err.empty()) {
    std::fprintf(stderr, "worldloop serve: %s\n", err.c_str());
    return 1;
  }
  std::fprintf(stderr,
               "worldloop serve: %lld frames published; %lld connections, %lld refused; %lld frames sent, %lld dropped "
               "for slow clients, %lld stalled clients closed\n",
               static_cast<long long>(published), static_cast<long long>(ws.connections),
               static_cast<long long>(ws.refused), static_cast<long long>(ws.frames_sent),
               static_cast<long long>(ws.frames_dropped), static_cast<long long>(ws.closed_stalled));
  return 0;  // Ctrl-C is how a server is meant to stop
}

}  // namespace wl::app
