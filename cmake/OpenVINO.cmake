# OpenVINO for fwbench serve's ONNX models: the C++ runtime inside the pinned PyPI wheel in
# .venvs/openvino (the wheel ships its headers, libraries and CMake config, TBB's included). Where
# scripts/install-deps.sh did not make that environment, ONNX models are served by OpenCV DNN
# alone (FWBENCH_HAVE_OPENVINO undefined). Measured here: ResNet-18 at 224², 2 threads, FP32,
# 16.1 ms per image against OpenCV DNN's 31.6 ms (docs/serve.md).
set(FWBENCH_OPENVINO_DIR "" CACHE PATH "OpenVINO's CMake config folder (default: the wheel's in .venvs/openvino)")
if(NOT FWBENCH_OPENVINO_DIR)
  file(GLOB _fwbench_ov_dirs LIST_DIRECTORIES true
       "${CMAKE_SOURCE_DIR}/.venvs/openvino/lib/python3*/site-packages/openvino/cmake")
  if(_fwbench_ov_dirs)
    list(GET _fwbench_ov_dirs 0 _fwbench_ov_dir)
    set(FWBENCH_OPENVINO_DIR "${_fwbench_ov_dir}")
  endif()
endif()
set(FWBENCH_OPENVINO_FOUND FALSE)
if(FWBENCH_OPENVINO_DIR AND EXISTS "${FWBENCH_OPENVINO_DIR}/OpenVINOConfig.cmake")
  set(TBB_DIR "${FWBENCH_OPENVINO_DIR}" CACHE PATH "" FORCE)
  find_package(OpenVINO CONFIG QUIET PATHS "${FWBENCH_OPENVINO_DIR}" NO_DEFAULT_PATH
               COMPONENTS Runtime)
  if(OpenVINO_FOUND)
    set(FWBENCH_OPENVINO_FOUND TRUE)
    message(STATUS "OpenVINO ${OpenVINO_VERSION} from ${FWBENCH_OPENVINO_DIR}: serves ONNX models")
  endif()
endif()
if(NOT FWBENCH_OPENVINO_FOUND)
  message(STATUS "OpenVINO not found (.venvs/openvino): ONNX models are served by OpenCV DNN only")
endif()
