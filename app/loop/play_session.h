// One play session's moving parts, shared by the windowed and the headless
// front ends: the frame source, the input queue, the mailbox, the model thread
// and the recorder it feeds.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "app/loop/action_script.h"
#include "app/loop/frame_mailbox.h"
#include "app/sources/frame_source.h"
#include "app/loop/input_log.h"
#include "app/loop/input_queue.h"
#include "app/loop/play_config.h"
#include "app/loop/play_options.h"
#include "app/record/recorder.h"
#include "app/loop/world_loop.h"
#include "app/record/frame_writer.h"

namespace wl::app {

// The FrameSource for these options: a world package computing on `backend`
// (choose_backend, app/frame_path.h; the DiT and the image decoder), the
// oracle game or the test pattern.
std::unique_ptr<FrameSource> make_frame_source(const PlayOptions& options, Backend backend);
// The Backend for options.backend on this machine (throws for cuda without a device).
Backend play_backend(const PlayOptions& options);
// Frames the session's mailbox holds at most for a source of `chunk_frames`.
size_t mailbox_capacity(int chunk_frames);
// The config with the source's own prompt presets (and its first one as the
// default prompt) when the source has them.
PlayConfig with_source_presets(const PlayConfig& config, const FrameSource& source);

class PlaySession {
 public:
  PlaySession(std::unique_ptr<FrameSource> source, const PlayOptions& options, const PlayConfig& config,
              WorldLoopOptions::Pacing pacing);
  ~PlaySession();

  void start();
  // Stops the model thread and the recorder; returns the first error (empty if none).
  std::string finish();

  InputQueue& inputs() { return inputs_; }
  FrameMailbox& mailbox() { return mailbox_; }
  const WorldLoop& loop() const { return *loop_; }
  const FrameSource& source() const { return *source_; }
  const std::string& initial_prompt() const { return prompt_; }
  // The session frame the run starts at: 0, or after --load the frame after the save point.
  int64_t first_frame() const { return first_frame_; }
  // --record-inputs: the log the model thread fills (written by finish()), or null.
  const InputLog* input_log() const { return input_log_.get(); }

  // Recording (thread-safe; frames are taken on the model thread).
  void start_recording(const std::string& path);  // throws if the writer cannot open
  std::string stop_recording();                    // returns the writer's error, if any
  bool recording() const;
  std::string recording_description() const;

 private:
  std::unique_ptr<FrameSource> source_;
  ActionScript script_;
  std::string prompt_;
  int64_t first_frame_ = 0;
  std::unique_ptr<InputLog> input_log_;
  std::string input_log_dir_;
  InputQueue inputs_;
  FrameMailbox mailbox_;
  std::unique_ptr<WorldLoop> loop_;
  mutable std::mutex rec_mu_;
  std::shared_ptr<Recorder> recorder_;
  std::string record_error_;
  int record_scale_ = 1;                            // --record-scale
  RecordFilter record_filter_ = RecordFilter::Nearest;  // --record-filter
};

}  // namespace wl::app
