// The measures of a framework's error text (`fwbench dx`): lines, frames of Python, LibTorch and
// JavaScript, the line a user reads first, and whether it names the culprit and the port's line.
#include "analysis/dx_error.h"

#include <gtest/gtest.h>

namespace fwbench {
namespace {

constexpr char kPort[] = "/work/workers/python/fwbench_workers/dx_torch.py";

TEST(DxErrorText, PythonTracebackHeadlineFramesAndPortLine) {
  const std::string text =
      "/x/torch/nn/modules/module.py:12: UserWarning: something first\n"
      "Traceback (most recent call last):\n"
      "  File \"/work/workers/python/fwbench_workers/dx_torch.py\", line 79, in shape_mismatch\n"
      "    _train(model)\n"
      "  File \"/x/torch/nn/modules/linear.py\", line 134, in forward\n"
      "    return F.linear(input, self.weight, self.bias)\n"
      "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
      "\n"
      "RuntimeError: addmm: mat1 and mat2 shapes cannot be multiplied (16x64 and 60x10)\n";
  const ErrorTextStats s = MeasureErrorText(text, R"(\bclassifier\b)", kPort);
  EXPECT_EQ(s.lines, 8);
  EXPECT_EQ(s.characters, static_cast<int>(text.size()));
  EXPECT_EQ(s.frames, 2);
  EXPECT_EQ(s.headline,
            "RuntimeError: addmm: mat1 and mat2 shapes cannot be multiplied (16x64 and 60x10)");
  EXPECT_TRUE(s.names_port_line);
  EXPECT_FALSE(s.names_culprit);  // the layer's name is nowhere in it
  EXPECT_FALSE(s.trace_names_culprit);
}

TEST(DxErrorText, AQuotedSourceLineIsTheTracebacksNotTheMessages) {
  const std::string text =
      "Traceback (most recent call last):\n"
      "  File \"/w/dx_torch.py\", line 38, in forward\n"
      "    return self.classifier(torch.relu(self.hidden(x)))\n"
      "           ^^^^^^^^^^^^^^^\n"
      "RuntimeError: addmm: shapes cannot be multiplied\n";
  ErrorTextStats s = MeasureErrorText(text, R"(\bclassifier\b)", "/w/dx_torch.py");
  EXPECT_FALSE(s.names_culprit);
  EXPECT_TRUE(s.trace_names_culprit);
  // A log prefix before each line of a logged traceback (torch.compile's), and a frame whose
  // source is not available, followed at once by the message.
  const std::string logged =
      "E1206 11:28:16.662 fake.py:3255] [0/0]   File \"/x/y.py\", line 3, in f\n"
      "E1206 11:28:16.662 fake.py:3255] [0/0]     r = classifier(x)\n"
      "  File \"<string>\", line 1, in <module>\n"
      "ValueError: layer classifier is incompatible\n";
  s = MeasureErrorText(logged, R"(\bclassifier\b)", "");
  EXPECT_EQ(s.frames, 2);
  EXPECT_TRUE(s.names_culprit);  // the message line right after the frame
  EXPECT_EQ(MeasureErrorText(logged.substr(0, logged.find("  File \"<")), R"(\bclassifier\b)", "")
                .names_culprit,
            false);
}

TEST(DxErrorText, ChainedTracebackReadsTheLastExceptionAndMultiLineMessages) {
  const std::string text =
      "Traceback (most recent call last):\n"
      "  File \"a.py\", line 1, in f\n"
      "KeyError: 'x'\n"
      "\n"
      "During handling of the above exception, another exception occurred:\n"
      "\n"
      "Traceback (most recent call last):\n"
      "  File \"b.py\", line 2, in g\n"
      "ValueError: Input 0 of layer \"Classifier\" is incompatible with the layer:\n"
      "expected axis -1 of input shape to have value 60\n";
  const ErrorTextStats s = MeasureErrorText(text, R"(\bclassifier\b)", kPort);
  EXPECT_EQ(s.headline,
            "ValueError: Input 0 of layer \"Classifier\" is incompatible with the layer:");
  EXPECT_EQ(s.frames, 2);
  EXPECT_TRUE(s.names_culprit);  // case-insensitive
  EXPECT_FALSE(s.names_port_line);
}

TEST(DxErrorText, TheExceptionsOwnLineNotATracebackQuotedInItsMessage) {
  // TensorFlow quotes the Python error of a tf.data generator inside its own message.
  const std::string text =
      "Traceback (most recent call last):\n"
      "  File \"dx_keras3.py\", line 136, in bad_batch\n"
      "tensorflow.python.framework.errors_impl.InvalidArgumentError: Graph execution error:\n"
      "\n"
      "Traceback (most recent call last):\n"
      "  File \"numpy/shape_base.py\", line 458, in stack\n"
      "ValueError: all input arrays must have the same shape\n"
      "\t [[{{node PyFunc}}]]\n";
  EXPECT_EQ(MeasureErrorText(text, "", "", 0, "InvalidArgumentError").headline,
            "tensorflow.python.framework.errors_impl.InvalidArgumentError: Graph execution error:");
  // Without the type: the traceback rule reads the quoted one.
  EXPECT_EQ(MeasureErrorText(text, "", "").headline,
            "ValueError: all input arrays must have the same shape");
  // A type that is only a suffix of another word is not it.
  EXPECT_EQ(MeasureErrorText("MyError: x\nError: y\n", "", "", 0, "Error").headline, "Error: y");
}

TEST(DxErrorText, LibtorchAndJavascriptFramesAndTheErrorsOwnFirstLine) {
  const std::string warning =
      "[W anomaly_mode.cpp:25] Warning: This mode should be enabled only "
      "for debugging\n";
  const std::string cpp =
      warning +
      "Function 'LogSoftmaxBackward0' returned nan values in its 0th output.\n"
      "Exception raised from validate_outputs at /pytorch/engine.cpp:1000 (most recent call "
      "first):\n"
      "frame #0: c10::Error::Error() + 0x1 (0x7f in /lib/libc10.so)\n"
      "frame #1: <unknown function> + 0x2 (0x7f in /lib/libtorch_cpu.so)\n";
  ErrorTextStats s =
      MeasureErrorText(cpp, R"(\bnan\b)", "/src/backends/trial/libtorch_dx.cpp", warning.size());
  EXPECT_EQ(s.frames, 2);
  EXPECT_EQ(s.headline, "Function 'LogSoftmaxBackward0' returned nan values in its 0th output.");
  EXPECT_TRUE(s.names_culprit);
  EXPECT_FALSE(s.names_port_line);
  // Without the offset, the first line is the warning printed before the error.
  EXPECT_EQ(MeasureErrorText(cpp, "", "").headline,
            "[W anomaly_mode.cpp:25] Warning: This mode "
            "should be enabled only for debugging");

  const std::string js =
      "Error: All tensors passed to stack must have matching shapes 3072 and 3071\n"
      "    at assert (/n/tfjs-core/dist/tf-core.node.js:337:15)\n"
      "    at Object.bad_batch (/w/workers/node/ports/dx_tfjs.js:88:7)\n";
  s = MeasureErrorText(js, R"(\b3071\b)", "/w/workers/node/ports/dx_tfjs.js");
  EXPECT_EQ(s.frames, 2);
  EXPECT_TRUE(s.names_culprit);
  EXPECT_TRUE(s.names_port_line);
  EXPECT_FALSE(MeasureErrorText(js, "", "/w/workers/node/ports/dx_ort.js").names_port_line);
}

TEST(DxErrorText, ColourEscapesAndAnEmptyText) {
  const ErrorTextStats s =
      MeasureErrorText("\x1b[96mConversionError\x1b[0m: no Cholesky\n", "cholesky", "");
  EXPECT_EQ(s.headline, "ConversionError: no Cholesky");
  EXPECT_EQ(s.characters, 29);
  EXPECT_EQ(MeasureErrorText("• é\n", "", "").characters, 4);  // characters, not bytes
  EXPECT_TRUE(s.names_culprit);
  const ErrorTextStats empty = MeasureErrorText("", R"(\bnan\b)", kPort, 100);
  EXPECT_EQ(empty.lines, 0);
  EXPECT_EQ(empty.frames, 0);
  EXPECT_EQ(empty.headline, "");
  EXPECT_FALSE(empty.names_culprit);
  EXPECT_FALSE(empty.names_port_line);
}

}  // namespace
}  // namespace fwbench
