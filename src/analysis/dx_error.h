#pragma once
// How a framework told the user about a fault (`fwbench dx`, docs/dx.md): the text it printed,
// measured. A proxy for debuggability, not a measure of how fast a person fixes the bug.
#include <string>
#include <string_view>

namespace fwbench {

struct ErrorTextStats {
  int lines = 0;       // non-empty lines
  int characters = 0;  // without colour escapes
  // Stack frames: Python's `File "…", line N`, LibTorch's `frame #N:`, JavaScript's `at …`.
  int frames = 0;
  // The line a user reads first, in the error's own text (from `error_offset` on, past what the
  // framework printed before it): the last line that starts with the exception's type name and
  // a colon (`RuntimeError: …`, `tensorflow.….InvalidArgumentError: …`: a chained exception's
  // last, not one quoted inside a message); else, for a Python traceback, the first unindented
  // line after the last "Traceback (most recent call last):"; else the first non-empty line.
  std::string headline;
  // The message (the text less stack frames and the source lines a Python traceback quotes)
  // matches the fault's culprit pattern: the framework itself named it.
  bool names_culprit = false;
  // Any line does, a quoted source line of the user's code included (`self.classifier(x)`).
  bool trace_names_culprit = false;
  bool names_port_line = false;  // the port's source file with a line number
};

// `culprit_pattern`: ECMAScript, matched case-insensitively. `port_file`: the dx port's source
// file, found by its file name followed by a line number (`dx_torch.py", line 12`, `dx.js:40`).
// `exception`: the type's name as the port reported it ("RuntimeError"), or "".
ErrorTextStats MeasureErrorText(std::string_view text, const std::string& culprit_pattern,
                                const std::string& port_file, std::size_t error_offset = 0,
                                const std::string& exception = "");

}  // namespace fwbench
