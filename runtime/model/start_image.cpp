// specs/encoders.md §1.2 (crop), §1.3 (Pillow bilinear), §1.4 (to [-1, 1]).
#include "runtime/model/start_image.h"

#include <algorithm>
#include <cmath>

#include "runtime/core/error.h"

namespace wl {
namespace {

// Python's round(): half to even.
int64_t round_half_even(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

// Pillow's fixed-point taps of one axis n_in -> n_out (triangle filter).
struct AxisTaps {
  std::vector<int64_t> lo;                  // first input index per output
  std::vector<std::vector<int64_t>> k;      // 22-bit integer weights per output
};

AxisTaps bilinear_taps(int64_t n_in, int64_t n_out) {
  AxisTaps taps;
  const double scale = static_cast<double>(n_in) / static_cast<double>(n_out);
  const double fs = std::max(scale, 1.0), support = fs, ss = 1.0 / fs;
  for (int64_t i = 0; i < n_out; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), n_in);
    std::vector<double> w;
    double sum = 0.0;
    for (int64_t j = lo; j < hi; ++j) {
      const double x = (static_cast<double>(j) - center + 0.5) * ss;
      w.push_back(std::max(0.0, 1.0 - std::fabs(x)));
      sum += w.back();
    }
    std::vector<int64_t> k;
    for (double wj : w) k.push_back(static_cast<int64_t>(0.5 + (sum != 0.0 ? wj / sum : wj) * 4194304.0));  // 2^22
    taps.lo.push_back(lo);
    taps.k.push_back(std::move(k));
  }
  return taps;
}

uint8_t fixed_point_sum(const std::vector<int64_t>& k, const uint8_t* first, int64_t stride) {
  int64_t acc = int64_t{1} << 21;
  for (size_t j = 0; j < k.size(); ++j) acc += k[j] * first[static_cast<int64_t>(j) * stride];
  return static_cast<uint8_t>(std::clamp<int64_t>(acc >> 22, 0, 255));
}

void check_image(const ImageU8& im, const char* what) {
  if (im.height <= 0 || im.width <= 0 || static_cast<int64_t>(im.rgb.size()) != im.height * im.width * 3)
    throw Error(std::string(what) + ": image of " + std::to_string(im.width) + "x" + std::to_string(im.height) +
                " holds " + std::to_string(im.rgb.size()) + " bytes, expected width*height*3");
}

}  // namespace

std::array<int64_t, 4> centre_crop_box(int64_t H0, int64_t W0, int64_t th, int64_t tw) {
  if (H0 <= 0 || W0 <= 0 || th <= 0 || tw <= 0)
    throw Error("start image crop: sizes must be positive (image " + std::to_string(W0) + "x" + std::to_string(H0) +
                ", target " + std::to_string(tw) + "x" + std::to_string(th) + ")");
  int64_t new_w, new_h;
  if (static_cast<double>(H0) / static_cast<double>(W0) > static_cast<double>(th) / static_cast<double>(tw)) {
    new_w = W0;
    new_h = static_cast<int64_t>(static_cast<double>(new_w) * static_cast<double>(th) / static_cast<double>(tw));
  } else {
    new_h = H0;
    new_w = static_cast<int64_t>(static_cast<double>(new_h) * static_cast<double>(tw) / static_cast<double>(th));
  }
  const double box[4] = {(W0 - new_w) / 2.0, (H0 - new_h) / 2.0, (W0 + new_w) / 2.0, (H0 + new_h) / 2.0};
  return {round_half_even(box[0]), round_half_even(box[1]), round_half_even(box[2]), round_half_even(box[3])};
}

ImageU8 crop(const ImageU8& im, const std::array<int64_t, 4>& box) {
  check_image(im, "crop");
  const int64_t x0 = box[0], y0 = box[1], x1 = box[2], y1 = box[3];
  if (x0 < 0 || y0 < 0 || x1 > im.width || y1 > im.height || x1 <= x0 || y1 <= y0)
    throw Error("crop: box (" + std::to_string(x0) + ", " + std::to_string(y0) + ", " + std::to_string(x1) + ", " +
                std::to_string(y1) + ") is empty or outside the " + std::to_string(im.width) + "x" +
                std::to_string(im.height) + " image");
  ImageU8 out{y1 - y0, x1 - x0, {}};
  out.rgb.resize(static_cast<size_t>(out.height * out.width * 3));
  for (int64_t y = 0; y < out.height; ++y)
    std::copy_n(im.rgb.data() + ((y0 + y) * im.width + x0) * 3, out.width * 3, out.rgb.data() + y * out.width * 3);
  return out;
}

ImageU8 pillow_bilinear_resize(const ImageU8& im, int64_t out_h, int64_t out_w) {
  check_image(im, "resize");
  if (out_h <= 0 || out_w <= 0) throw Error("resize: target size must be positive");
  ImageU8 cur = im;
  if (cur.width != out_w) {  // horizontal pass, rounded to uint8
    const AxisTaps t = bilinear_taps(cur.width, out_w);
    ImageU8 next{cur.height, out_w, std::vector<uint8_t>(static_cast<size_t>(cur.height * out_w * 3))};
    for (int64_t y = 0; y < cur.height; ++y)
      for (int64_t x = 0; x < out_w; ++x)
        for (int64_t c = 0; c < 3; ++c)
          next.rgb[static_cast<size_t>((y * out_w + x) * 3 + c)] =
              fixed_point_sum(t.k[static_cast<size_t>(x)], cur.rgb.data() + (y * cur.width + t.lo[static_cast<size_t>(x)]) * 3 + c, 3);
    cur = std::move(next);
  }
  if (cur.height != out_h) {  // vertical pass on the uint8 result
    const AxisTaps t = bilinear_taps(cur.height, out_h);
    ImageU8 next{out_h, cur.width, std::vector<uint8_t>(static_cast<size_t>(out_h * cur.width * 3))};
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < cur.width; ++x)
        for (int64_t c = 0; c < 3; ++c)
          next.rgb[static_cast<size_t>((y * cur.width + x) * 3 + c)] =
              fixed_point_sum(t.k[static_cast<size_t>(y)], cur.rgb.data() + (t.lo[static_cast<size_t>(y)] * cur.width + x) * 3 + c,
                              cur.width * 3);
    cur = std::move(next);
  }
  return cur;
}

ImageU8 prepare_start_image(const ImageU8& image, int64_t target_h, int64_t target_w) {
  return pillow_bilinear_resize(crop(image, centre_crop_box(image.height, image.width, target_h, target_w)), target_h,
                                target_w);
}

Tensor frame_from_u8(const ImageU8& im) {
  check_image(im, "frame");
  Tensor f = Tensor::empty({3, im.height, im.width});  // [3, H, W]
  const int64_t plane = im.height * im.width;
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < 3; ++c)
      f.f32()[c * plane + p] = static_cast<float>(2.0 * im.rgb[static_cast<size_t>(p * 3 + c)] / 255.0 - 1.0);
  return f;
}

}  // namespace wl
