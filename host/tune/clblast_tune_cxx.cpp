// The only C++ in clnet: CLBlast's tuning API (clblast::TuneXgemm, TuneXgemmDirect) and
// RetrieveParameters exist only in its C++ header. Two extern "C" functions wrap them; every
// exception stays inside. See clblast_tune_cxx.h.
#include <clblast.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "tune/clblast_tune_cxx.h"

// Copies the map into *out, names sorted (CLBlast's map order is unspecified). 0 or an error code.
static int to_params(const std::unordered_map<std::string, size_t> &map, clnet_clblast_params *out) {
  std::vector<std::string> names;
  for (const auto &p : map) names.push_back(p.first);
  std::sort(names.begin(), names.end());
  out->count = 0;
  for (const auto &name : names) {
    if (out->count >= CLNET_CLBLAST_MAX_PARAMS || name.size() >= sizeof out->names[0])
      return static_cast<int>(clblast::StatusCode::kUnexpectedError);
    std::strcpy(out->names[out->count], name.c_str());
    out->values[out->count] = map.at(name);
    ++out->count;
  }
  return 0;
}

extern "C" int clnet_clblast_tune_run(cl_command_queue queue, int direct, size_t m, size_t n, size_t k,
                                      double fraction, clnet_clblast_params *out) {
  out->count = 0;
  try {
    std::unordered_map<std::string, size_t> params;
    const clblast::StatusCode s =
        direct ? clblast::TuneXgemmDirect<float>(&queue, m, n, k, fraction, params)
               : clblast::TuneXgemm<float>(&queue, m, n, k, fraction, params);
    if (s != clblast::StatusCode::kSuccess) return static_cast<int>(s);
    return to_params(params, out);
  } catch (const std::bad_alloc &) {
    return static_cast<int>(clblast::StatusCode::kOpenCLOutOfHostMemory);
  } catch (...) {
    return static_cast<int>(clblast::StatusCode::kUnknownError);
  }
}

extern "C" int clnet_clblast_retrieve(cl_device_id device, const char *kernel, clnet_clblast_params *out) {
  out->count = 0;
  try {
    std::unordered_map<std::string, size_t> params;
    const clblast::StatusCode s =
        clblast::RetrieveParameters(device, kernel, clblast::Precision::kSingle, params);
    if (s != clblast::StatusCode::kSuccess) return static_cast<int>(s);
    return to_params(params, out);
  } catch (const std::bad_alloc &) {
    return static_cast<int>(clblast::StatusCode::kOpenCLOutOfHostMemory);
  } catch (...) {
    return static_cast<int>(clblast::StatusCode::kUnknownError);
  }
}
