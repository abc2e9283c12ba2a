#include "backends/env/libtorch_info.h"

#include <iostream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "core/env_fingerprint.h"

namespace fwbench {
namespace {

using nlohmann::json;

TEST(CollectLibtorchInfo, ReportsVersionBuildAndThreads) {
  const json info = CollectLibtorchInfo();
  ASSERT_TRUE(info["version"].is_string());
  EXPECT_TRUE(std::regex_search(info["version"].get<std::string>(), std::regex(R"(^\d+\.\d+)")))
      << info["version"];
  for (const char* key : {"cuda_available", "cudnn", "mkldnn", "mkl", "openmp", "lapack"}) {
    EXPECT_TRUE(info[key].is_boolean()) << key << " = " << info[key];
  }
  ASSERT_TRUE(info["cuda_device_count"].is_number_integer());
  if (!info["cuda_available"].get<bool>()) EXPECT_EQ(info["cuda_device_count"], 0);
  ASSERT_TRUE(info["intra_op_threads"].is_number_integer());
  EXPECT_GE(info["intra_op_threads"].get<int>(), 1);
  ASSERT_TRUE(info["inter_op_threads"].is_number_integer());
  EXPECT_GE(info["inter_op_threads"].get<int>(), 1);
  ASSERT_TRUE(info["parallel_info"].is_string());
  EXPECT_NE(info["parallel_info"].get<std::string>().find("ATen"), std::string::npos);
  ASSERT_TRUE(info["config"].is_string());
  EXPECT_FALSE(info["config"].get<std::string>().empty());
  EXPECT_EQ(info["matmul_ok"], true);
}

TEST(CollectLibtorchInfo, DetectsTheBlasLibtorchUses) {
  const json info = CollectLibtorchInfo();
  std::cout << "blas: " << info["blas"] << "\nblas_libraries: " << info["blas_libraries"].dump(2)
            << "\nsgemm_provider: " << info["sgemm_provider"] << " (" << info["sgemm_provider_blas"]
            << ")\nversion: " << info["version"]
            << ", intra-op threads: " << info["intra_op_threads"] << "\n";
  ASSERT_TRUE(info["blas"].is_string());
  // Debian's LibTorch links libblas.so.3, which on a set-up machine is OpenBLAS; "unknown"
  // means detection is broken, "reference" means the machine is (and doctor must say so).
  EXPECT_NE(info["blas"], "unknown");
  EXPECT_NE(info["blas"], "reference") << "this machine's libblas.so.3 is netlib's reference "
                                          "BLAS; install libopenblas0-pthread";
  ASSERT_TRUE(info["blas_libraries"].is_array());
  if (info["blas"] != "mkl") EXPECT_FALSE(info["blas_libraries"].empty());  // static MKL has none
  // After LibTorch's matmul the process-wide fingerprint must agree with LibTorch's view.
  if (info["blas"] != "mkl") {
    EXPECT_EQ(CollectEnvFingerprint()["blas"]["detected"], info["blas"]);
  }
}

}  // namespace
}  // namespace fwbench
