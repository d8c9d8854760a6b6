// Measurements on RGB8 frames for the world benchmark: masked PSNR, colour
// histograms, contrast, motion by phase correlation and a nearest-mean
// classifier. Frames are [H][W][3], rows top first.
#pragma once
#include <cstdint>
#include <vector>

namespace wl::app {

struct FrameView {
  const uint8_t* rgb;
  int width, height;
};

// PSNR (dB) over the pixels where mask != 0 (all when mask is empty);
// +inf for identical frames, NaN when the mask selects nothing.
double psnr(FrameView a, FrameView b, const std::vector<uint8_t>& mask = {});

// A normalised colour histogram with `bins` levels per channel.
std::vector<double> colour_histogram(FrameView f, int bins = 8);
// Half the L1 distance between two normalised histograms (0 .. 1).
double histogram_distance(const std::vector<double>& a, const std::vector<double>& b);

// Standard deviation of luma (0..255).
double contrast(FrameView f);

// A frame's texture, wherever things sit: its 3x3 RGB patches (all positions)
// projected on 16 fixed unit directions, sorted per direction.
struct PatchTexture {
  int width = 0, height = 0;
  std::vector<std::vector<double>> sorted;  // [16][patches]
};
PatchTexture patch_texture(FrameView f);
// How unlike two textures are: their sliced Wasserstein distance, in levels
// (0..255). A frame against the same texture moved elsewhere gives little;
// blur, invented stripes or the wrong colours side by side give more. NaN when
// the frames differ in size or are under 3x3.
double patch_texture_distance(const PatchTexture& a, const PatchTexture& b);
double patch_texture_distance(FrameView a, FrameView b);

// The translation (dx, dy) in pixels that moves `prev` onto `next` (content
// moving right gives dx > 0), by phase correlation on luma.
struct Shift {
  int dx = 0, dy = 0;
  double peak = 0;  // height of the correlation peak (1 = perfect translation)
};
Shift phase_correlation(FrameView prev, FrameView next);

// Mean RGB of a frame, for nearest-mean theme classification.
struct MeanColour {
  double r = 0, g = 0, b = 0;
};
MeanColour mean_colour(FrameView f);
// Index of the nearest centroid.
int nearest(const MeanColour& c, const std::vector<MeanColour>& centroids);

}  // namespace wl::app
