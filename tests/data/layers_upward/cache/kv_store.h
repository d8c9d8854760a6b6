// A cache file that includes core: allowed.
#pragma once
#include "runtime/core/tensor.h"
