#include "core/env_fingerprint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fwbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- The live fingerprint of this (Linux) machine ----

TEST(CollectEnvFingerprint, HasEveryTopLevelKey) {
  const json fp = CollectEnvFingerprint();
  ASSERT_TRUE(fp.is_object());
  for (const char* key : {"timestamp_utc", "fwbench", "compiler", "build_type", "cpu", "memory",
                          "os", "load", "env", "blas", "gpu", "gpu_driver"}) {
    EXPECT_TRUE(fp.contains(key)) << "missing " << key;
  }
}

TEST(CollectEnvFingerprint, CpuCountsAreSane) {
  const json cpu = CollectEnvFingerprint()["cpu"];
  ASSERT_TRUE(cpu.is_object());
  ASSERT_TRUE(cpu["logical_cores"].is_number_integer());
  EXPECT_GE(cpu["logical_cores"].get<int>(), 1);
  ASSERT_TRUE(cpu["usable_cores"].is_number_integer());
  EXPECT_GE(cpu["usable_cores"].get<int>(), 1);
  EXPECT_TRUE(cpu["cgroup_cpu_limit"].is_null() || cpu["cgroup_cpu_limit"].get<double>() > 0);
  EXPECT_TRUE(cpu["governor"].is_null() || !cpu["governor"].get<std::string>().empty());
  EXPECT_TRUE(cpu["sockets"].is_null() || cpu["sockets"].get<int>() >= 1);
  EXPECT_TRUE(cpu["mhz"].is_null() || cpu["mhz"].get<double>() > 0);
#if defined(__x86_64__)
  ASSERT_TRUE(cpu["model"].is_string());
  EXPECT_FALSE(cpu["model"].get<std::string>().empty());
  ASSERT_TRUE(cpu["flags"].is_array());
  EXPECT_FALSE(cpu["flags"].empty());
  // Every x86-64 CPU has sse2; a parser that lost the flags line would not find it.
  EXPECT_NE(std::find(cpu["flags"].begin(), cpu["flags"].end(), json("sse2")), cpu["flags"].end());
  ASSERT_TRUE(cpu["notable"].is_array());
  for (const json& f : cpu["notable"]) {
    EXPECT_NE(std::find(cpu["flags"].begin(), cpu["flags"].end(), f), cpu["flags"].end()) << f;
  }
#endif
}

TEST(CollectEnvFingerprint, MemoryOsLoadAreSane) {
  const json fp = CollectEnvFingerprint();
  ASSERT_TRUE(fp["memory"]["total_bytes"].is_number_integer());
  ASSERT_TRUE(fp["memory"]["available_bytes"].is_number_integer());
  const auto total = fp["memory"]["total_bytes"].get<long long>();
  const auto available = fp["memory"]["available_bytes"].get<long long>();
  EXPECT_GT(total, 0);
  EXPECT_GT(available, 0);
  EXPECT_LE(available, total);

  ASSERT_TRUE(fp["os"]["kernel_release"].is_string());
  EXPECT_FALSE(fp["os"]["kernel_release"].get<std::string>().empty());
  EXPECT_EQ(fp["os"]["kernel"], "Linux");
  ASSERT_TRUE(fp["os"]["hostname"].is_string());
  EXPECT_TRUE(fp["os"]["distro"].is_null() || fp["os"]["distro"].is_string());

  ASSERT_TRUE(fp["load"]["loadavg_1m"].is_number());
  EXPECT_GE(fp["load"]["loadavg_1m"].get<double>(), 0.0);
  ASSERT_TRUE(fp["load"]["total_processes"].is_number_integer());
  EXPECT_GE(fp["load"]["total_processes"].get<int>(), 1);  // this test is one

  EXPECT_FALSE(fp["fwbench"]["version"].get<std::string>().empty());
  EXPECT_FALSE(fp["fwbench"]["git_revision"].get<std::string>().empty());
  EXPECT_FALSE(fp["compiler"].get<std::string>().empty());
  EXPECT_TRUE(fp["gpu"].is_array());
  EXPECT_TRUE(fp["blas"]["detected"].is_string());
  EXPECT_TRUE(fp["blas"]["libraries"].is_array());
}

TEST(CollectEnvFingerprint, TimestampIsIso8601Utc) {
  const std::string ts = CollectEnvFingerprint()["timestamp_utc"].get<std::string>();
  EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << ts;
}

TEST(CollectEnvFingerprint, RecordsThreadEnvVarsAndNullWhenUnset) {
  const char* old = std::getenv("OPENBLAS_NUM_THREADS");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("OPENBLAS_NUM_THREADS", "3", 1);
  const json set = CollectEnvFingerprint()["env"];
  ::unsetenv("OPENBLAS_NUM_THREADS");
  const json unset = CollectEnvFingerprint()["env"];
  if (old != nullptr) ::setenv("OPENBLAS_NUM_THREADS", saved.c_str(), 1);

  EXPECT_EQ(set["OPENBLAS_NUM_THREADS"], "3");
  EXPECT_TRUE(unset.contains("OPENBLAS_NUM_THREADS"));
  EXPECT_TRUE(unset["OPENBLAS_NUM_THREADS"].is_null());
  for (const std::string& name : ThreadEnvVarNames()) {
    EXPECT_TRUE(unset.contains(name)) << name;
  }
}

// ---- Parsers on fixed text ----

constexpr const char* kX86CpuInfo =
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "cpu MHz\t\t: 2000.125\n"
    "physical id\t: 0\n"
    "flags\t\t: fpu sse2 avx fma avx2 avx512f amx_tile\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "cpu MHz\t\t: 3100.000\n"
    "physical id\t: 1\n"
    "flags\t\t: fpu sse2 avx fma avx2 avx512f amx_tile\n";

TEST(ParseCpuInfo, X86) {
  const json cpu = ParseCpuInfo(kX86CpuInfo);
  EXPECT_EQ(cpu["model"], "Intel(R) Xeon(R) Platinum 8480+");
  EXPECT_EQ(cpu["vendor"], "GenuineIntel");
  EXPECT_EQ(cpu["sockets"], 2);
  EXPECT_DOUBLE_EQ(cpu["mhz"].get<double>(), 2000.125);  // the first CPU's
  EXPECT_EQ(cpu["flags"], json({"fpu", "sse2", "avx", "fma", "avx2", "avx512f", "amx_tile"}));
  EXPECT_EQ(cpu["notable"], json({"avx", "avx2", "avx512f", "amx_tile", "fma"}));
}

TEST(ParseCpuInfo, ArmWithoutSocketsOrModel) {
  const json cpu = ParseCpuInfo(
      "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd sve bf16\nCPU part\t: 0xd40\n");
  EXPECT_TRUE(cpu["model"].is_null());
  EXPECT_TRUE(cpu["sockets"].is_null());
  EXPECT_TRUE(cpu["mhz"].is_null());
  EXPECT_EQ(cpu["notable"], json({"asimd", "sve"}));
}

TEST(ParseCpuInfo, EmptyTextGivesNulls) {
  const json cpu = ParseCpuInfo("");
  for (const char* key : {"model", "vendor", "flags", "notable", "sockets", "mhz"}) {
    EXPECT_TRUE(cpu[key].is_null()) << key;
  }
}

TEST(ParseMeminfoBytes, ConvertsKibibytes) {
  const char* text = "MemTotal:       24683620 kB\nMemFree:  100 kB\nMemAvailable:   1000 kB\n";
  EXPECT_EQ(ParseMeminfoBytes(text, "MemTotal"), 24683620LL * 1024);
  EXPECT_EQ(ParseMeminfoBytes(text, "MemAvailable"), 1024000LL);
  EXPECT_FALSE(ParseMeminfoBytes(text, "SwapTotal").has_value());
  EXPECT_FALSE(ParseMeminfoBytes(text, "Mem").has_value());
}

TEST(ParseLoadavg, ParsesAllFields) {
  const json load = ParseLoadavg("0.23 0.31 0.17 2/87 6259\n");
  EXPECT_DOUBLE_EQ(load["loadavg_1m"].get<double>(), 0.23);
  EXPECT_DOUBLE_EQ(load["loadavg_5m"].get<double>(), 0.31);
  EXPECT_DOUBLE_EQ(load["loadavg_15m"].get<double>(), 0.17);
  EXPECT_EQ(load["running_processes"], 2);
  EXPECT_EQ(load["total_processes"], 87);
  EXPECT_TRUE(ParseLoadavg("garbage")["loadavg_1m"].is_null());
}

TEST(ParseOsReleaseField, QuotedAndUnquoted) {
  const char* text =
      "NAME=\"Debian GNU/Linux\"\nVERSION_ID=12\nPRETTY_NAME=\"Debian 12 (bookworm)\"\n";
  EXPECT_EQ(ParseOsReleaseField(text, "PRETTY_NAME"), "Debian 12 (bookworm)");
  EXPECT_EQ(ParseOsReleaseField(text, "VERSION_ID"), "12");
  EXPECT_FALSE(ParseOsReleaseField(text, "ID").has_value());
}

TEST(ParseNvidiaGpuInformation, SnakeCaseKeys) {
  const json gpu = ParseNvidiaGpuInformation(
      "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 123\n"
      "GPU UUID: \t GPU-1234\nVideo BIOS: \t 96.00.5e.00.01\nBus Location: \t 0000:18:00.0\n");
  EXPECT_EQ(gpu["model"], "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(gpu["gpu_uuid"], "GPU-1234");
  EXPECT_EQ(gpu["video_bios"], "96.00.5e.00.01");
  EXPECT_EQ(gpu["bus_location"], "0000:18:00.0");
}

TEST(ParseCgroupCpuMax, QuotaAndUnlimited) {
  EXPECT_FALSE(ParseCgroupCpuMax("max 100000\n").has_value());
  EXPECT_DOUBLE_EQ(ParseCgroupCpuMax("150000 100000\n").value(), 1.5);
  EXPECT_FALSE(ParseCgroupCpuMax("").has_value());
}

// ---- Mapped libraries and BLAS classification ----

TEST(LoadedSharedLibraries, ListsLibcOnceWithAbsolutePaths) {
  const std::vector<std::string> libs = LoadedSharedLibraries();
  ASSERT_FALSE(libs.empty());
  EXPECT_EQ(std::set<std::string>(libs.begin(), libs.end()).size(), libs.size());
  for (const std::string& lib : libs) {
    EXPECT_EQ(lib.front(), '/') << lib;
    EXPECT_NE(lib.find(".so"), std::string::npos) << lib;
  }
  EXPECT_TRUE(std::any_of(libs.begin(), libs.end(), [](const std::string& l) {
    return l.find("/libc.so") != std::string::npos || l.find("/libc-") != std::string::npos;
  }));
}

// Paths under a directory that does not exist, so classification is by name alone here.
std::string Fake(const std::string& rest) { return "/nonexistent-fwbench" + rest; }

TEST(DetectBlas, ByNameAndDirectory) {
  const std::string lib = "/usr/lib/x86_64-linux-gnu";
  EXPECT_EQ(DetectBlas({Fake(lib + "/openblas-pthread/libblas.so.3"),
                        Fake(lib + "/openblas-pthread/libopenblasp-r0.3.21.so")}),
            "openblas-pthread");
  EXPECT_EQ(DetectBlas({Fake(lib + "/openblas-openmp/libblas.so.3")}), "openblas-openmp");
  EXPECT_EQ(DetectBlas({Fake(lib + "/openblas-serial/liblapack.so.3")}), "openblas-serial");
  EXPECT_EQ(DetectBlas({Fake("/usr/lib64/libopenblaso-r0.3.21.so")}), "openblas-openmp");
  EXPECT_EQ(DetectBlas({Fake("/usr/lib64/libopenblas-r0.3.21.so")}), "openblas-serial");
  EXPECT_EQ(DetectBlas({Fake("/numpy.libs/libopenblas64_p-r0-0cf96a72.3.23.dev.so")}),
            "openblas-pthread");
  EXPECT_EQ(DetectBlas({Fake("/scipy_openblas64/lib/libscipy_openblas64_-ff651d7f.so")}),
            "openblas");
  EXPECT_EQ(DetectBlas({Fake("/opt/intel/oneapi/mkl/lib/libmkl_rt.so.2")}), "mkl");
  EXPECT_EQ(DetectBlas({Fake("/lib/libmkl_intel_lp64.so"), Fake("/lib/libmkl_core.so")}), "mkl");
  EXPECT_EQ(DetectBlas({Fake(lib + "/blis-openmp/libblas.so.3")}), "blis");
  EXPECT_EQ(DetectBlas({Fake("/usr/lib/libblis.so.4")}), "blis");
  EXPECT_EQ(DetectBlas({Fake(lib + "/blas/libblas.so.3.11.0")}), "reference");
  EXPECT_EQ(DetectBlas({Fake("/usr/lib64/libcblas.so.3")}), "reference");
  EXPECT_EQ(DetectBlas({"/System/Library/Frameworks/Accelerate.framework/Versions/A/Frameworks/"
                        "vecLib.framework/Versions/A/libBLAS.dylib"}),
            "accelerate");
}

TEST(DetectBlas, UnknownWhenNoneOrUnsupported) {
  EXPECT_EQ(DetectBlas({}), "unknown");
  EXPECT_EQ(DetectBlas({Fake("/lib/libc.so.6"), Fake("/lib/libgomp.so.1")}), "unknown");
  // Reference LAPACK alone says nothing about the BLAS under it.
  EXPECT_EQ(DetectBlas({Fake("/usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3")}), "unknown");
  EXPECT_EQ(DetectBlas({Fake("/usr/lib/x86_64-linux-gnu/atlas/libblas.so.3")}), "unknown");
  // A directory named like a BLAS does not make any library in it one.
  EXPECT_EQ(DetectBlas({Fake("/home/u/openblas-pthread/libfoo.so")}), "unknown");
}

TEST(DetectBlas, ReferenceWinsWhenMixed) {
  EXPECT_EQ(
      DetectBlas({Fake("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"),
                  Fake("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so")}),
      "reference");
  EXPECT_EQ(DetectBlas({Fake("/a/libscipy_openblas64_-x.so"), Fake("/b/libopenblasp-r0.3.so")}),
            "openblas-pthread");
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "fwbench-blas-XXXXXX").string();
    path_ = ::mkdtemp(templ.data()) != nullptr ? fs::path(templ) : fs::path();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void Touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "not really a library";
}

TEST(DetectBlas, ResolvesDebianAlternativesSymlinks) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const fs::path root = tmp.path();
  Touch(root / "openblas-pthread" / "libblas.so.3");
  Touch(root / "blas" / "libblas.so.3.11.0");
  fs::create_symlink("libblas.so.3.11.0", root / "blas" / "libblas.so.3");
  fs::create_directories(root / "alternatives");

  // libblas.so.3 -> alternatives/libblas.so.3 -> openblas-pthread/libblas.so.3: by its own
  // name it would look like the reference BLAS; resolved it is OpenBLAS.
  fs::create_symlink(root / "openblas-pthread" / "libblas.so.3",
                     root / "alternatives" / "libblas.so.3");
  fs::create_symlink(root / "alternatives" / "libblas.so.3", root / "libblas.so.3");
  EXPECT_EQ(DetectBlas({(root / "libblas.so.3").string()}), "openblas-pthread");

  // The other way round: a link that lives in an OpenBLAS-looking directory but points at the
  // reference BLAS must be reported as the reference BLAS.
  fs::create_directories(root / "openblas-serial");
  fs::create_symlink(root / "blas" / "libblas.so.3", root / "openblas-serial" / "libblas.so.3");
  EXPECT_EQ(DetectBlas({(root / "openblas-serial" / "libblas.so.3").string()}), "reference");
}

TEST(BlasLibraries, KeepsOnlyBlasAndLapack) {
  const std::vector<std::string> libs = {
      "/lib/libc.so.6",    "/x/openblas-pthread/libblas.so.3", "/x/openblas-pthread/liblapack.so.3",
      "/lib/libgomp.so.1", "/opt/mkl/libmkl_rt.so.2",          "/x/libopenblas.so.0"};
  EXPECT_EQ(BlasLibraries(libs),
            std::vector<std::string>({"/x/openblas-pthread/libblas.so.3",
                                      "/x/openblas-pthread/liblapack.so.3",
                                      "/opt/mkl/libmkl_rt.so.2", "/x/libopenblas.so.0"}));
}

TEST(SymbolProvider, FindsLibcAndNothingForUnknownSymbols) {
  EXPECT_NE(SymbolProvider("getpid").find("libc"), std::string::npos);
  EXPECT_EQ(SymbolProvider("fwbench_no_such_symbol_anywhere"), "");
}

}  // namespace
TEST(EnvFingerprint, UsableCoreCountIsTheAffinityAndAtLeastOne) {
  const auto affinity = UsableCores();
  ASSERT_TRUE(affinity.has_value());  // Linux: sched_getaffinity answers
  EXPECT_EQ(UsableCoreCount(), *affinity);
  EXPECT_GE(UsableCoreCount(), 1);
  EXPECT_EQ(CollectEnvFingerprint()["cpu"]["usable_cores"], UsableCoreCount());
}

}  // namespace fwbench
