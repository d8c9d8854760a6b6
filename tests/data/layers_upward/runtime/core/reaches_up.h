// A core file that reaches up into the cache layer: the layer check must refuse it.
#pragma once
#include "cache/kv_store.h"
