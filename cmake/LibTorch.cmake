# Which LibTorch fwbench builds against (FWBENCH_LIBTORCH):
#   auto   (default) the LibTorch inside the pinned PyTorch wheel in .venvs/torch when
#          scripts/install-deps.sh made it, else the system's (Debian's libtorch-dev 1.13);
#   wheel  that wheel's LibTorch, or stop with why not;
#   system find_package(Torch) as is: Debian's, or the LibTorch that -DTorch_DIR= names.
# One version on both sides makes "LibTorch C++ vs PyTorch Python" compare frameworks, not
# releases. The wheel's own share/cmake/Torch stops on a machine without the CUDA toolkit ("uses
# CUDA but I cannot find the CUDA libraries"), so without nvcc the wheel's headers and CPU
# libraries become an imported target here; with the toolkit its own config is used (CUDA builds).
set(FWBENCH_LIBTORCH "auto" CACHE STRING "auto, wheel or system (see cmake/LibTorch.cmake)")
set_property(CACHE FWBENCH_LIBTORCH PROPERTY STRINGS auto wheel system)

set(_fwbench_wheel "")
if(NOT FWBENCH_LIBTORCH STREQUAL "system")
  file(GLOB _fwbench_wheels LIST_DIRECTORIES true
       "${CMAKE_SOURCE_DIR}/.venvs/torch/lib/python3*/site-packages/torch")
  foreach(_dir IN LISTS _fwbench_wheels)
    if(EXISTS "${_dir}/lib/libtorch_cpu.so" AND EXISTS "${_dir}/include/torch/script.h")
      set(_fwbench_wheel "${_dir}")
    endif()
  endforeach()
  if(FWBENCH_LIBTORCH STREQUAL "wheel" AND NOT _fwbench_wheel)
    message(FATAL_ERROR "FWBENCH_LIBTORCH=wheel: no PyTorch wheel with LibTorch under "
      "${CMAKE_SOURCE_DIR}/.venvs/torch (run ./scripts/install-deps.sh, or configure with "
      "-DFWBENCH_LIBTORCH=system for Debian's libtorch-dev)")
  endif()
endif()

if(_fwbench_wheel)
  file(STRINGS "${_fwbench_wheel}/version.py" _fwbench_version_line REGEX "^__version__")
  string(REGEX REPLACE "^__version__ = '([^'+]+).*" "\\1" Torch_VERSION "${_fwbench_version_line}")
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    set(Torch_DIR "${_fwbench_wheel}/share/cmake/Torch" CACHE PATH "" FORCE)
    find_package(Torch REQUIRED)
  else()
    # The wheel's include/ also carries the fmt 12 headers LibTorch was built with; ahead of
    # Debian's fmt 9 they would compile our fmt calls against a library we do not link (undefined
    # fmt::v12::report_error). So the include path is a folder of links to everything but fmt/.
    set(_fwbench_includes "${CMAKE_BINARY_DIR}/libtorch-include")
    file(REMOVE_RECURSE "${_fwbench_includes}")
    file(MAKE_DIRECTORY "${_fwbench_includes}")
    file(GLOB _fwbench_entries RELATIVE "${_fwbench_wheel}/include" "${_fwbench_wheel}/include/*")
    foreach(_entry IN LISTS _fwbench_entries)
      if(NOT _entry STREQUAL "fmt")
        file(CREATE_LINK "${_fwbench_wheel}/include/${_entry}" "${_fwbench_includes}/${_entry}"
             SYMBOLIC)
      endif()
    endforeach()
    add_library(fwbench_libtorch INTERFACE IMPORTED)
    # SYSTEM: LibTorch's headers are not clean under our warning set.
    target_include_directories(fwbench_libtorch SYSTEM INTERFACE
      "${_fwbench_includes}" "${_fwbench_wheel}/include/torch/csrc/api/include")
    target_link_libraries(fwbench_libtorch INTERFACE "${_fwbench_wheel}/lib/libtorch.so"
      "${_fwbench_wheel}/lib/libtorch_cpu.so" "${_fwbench_wheel}/lib/libc10.so" Threads::Threads)
    # PyTorch wheels since 2.7 use the C++11 string ABI, as Debian's libraries do.
    target_compile_definitions(fwbench_libtorch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
    set(TORCH_LIBRARIES fwbench_libtorch)
    set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")
    set(Torch_DIR "${_fwbench_wheel}")
  endif()
  set(FWBENCH_LIBTORCH_SOURCE "wheel")
else()
  find_package(Torch REQUIRED)
  set(FWBENCH_LIBTORCH_SOURCE "system")
endif()
