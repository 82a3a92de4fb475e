# libtorch for TorchOnSpark: the one in a Python environment's torch package (pip's wheel; its
# include/ and lib/ folders, as PyTorch documents for C++ extensions), or any folder with the same
# layout (an unpacked libtorch distribution), so that C++ programs and Python training functions
# use one and the same libtorch. Used by the build and by the installed CMake package.
#
#   TOS_TORCH_DIR     the folder holding include/ and lib/ (default: asked from TOS_TORCH_PYTHON)
#   TOS_TORCH_PYTHON  the Python whose torch to use (the build: .venv/bin/python)
#
# Gives the imported target TorchOnSpark::torch and TOS_TORCH_VERSION, TOS_TORCH_CUDA (ON when
# this libtorch has CUDA: libtorch_cuda.so is there, loaded at run time by
# tos::train::LoadTorchCuda), TOS_TORCH_CXX11_ABI.
#
# Why not find_package(Torch): the wheel's TorchConfig.cmake stops with a fatal error on a
# machine without the CUDA toolkit when its libtorch was built with CUDA, which the registry's
# default wheel is; programs need only the headers and the shared libraries.
if(TARGET TorchOnSpark::torch)
  return()
endif()

if(NOT TOS_TORCH_DIR)
  if(NOT TOS_TORCH_PYTHON)
    message(FATAL_ERROR "TorchOnSpark: set TOS_TORCH_DIR (a libtorch folder) or TOS_TORCH_PYTHON "
                        "(a Python with torch installed)")
  endif()
  execute_process(
    COMMAND ${TOS_TORCH_PYTHON} -c
      "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__)"
    OUTPUT_VARIABLE _tos_torch OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_VARIABLE _tos_torch_err RESULT_VARIABLE _tos_torch_rc)
  if(NOT _tos_torch_rc EQUAL 0)
    message(FATAL_ERROR "TorchOnSpark: torch is not importable from ${TOS_TORCH_PYTHON} "
                        "(run `make setup`, which installs it into .venv): ${_tos_torch_err}")
  endif()
  string(REPLACE "\n" ";" _tos_torch "${_tos_torch}")
  list(GET _tos_torch 0 TOS_TORCH_DIR)
  list(GET _tos_torch 1 TOS_TORCH_VERSION)
endif()
if(NOT EXISTS ${TOS_TORCH_DIR}/include/torch/torch.h AND
   NOT EXISTS ${TOS_TORCH_DIR}/include/torch/csrc/api/include/torch/torch.h)
  message(FATAL_ERROR "TorchOnSpark: ${TOS_TORCH_DIR} has no libtorch headers (include/torch)")
endif()
if(NOT TOS_TORCH_VERSION)
  foreach(_h torch/headeronly/version.h torch/csrc/api/include/torch/version.h torch/version.h)
    if(NOT TOS_TORCH_VERSION AND EXISTS ${TOS_TORCH_DIR}/include/${_h})
      file(STRINGS ${TOS_TORCH_DIR}/include/${_h} _v REGEX "define TORCH_VERSION_(MAJOR|MINOR) ")
      if(_v)
        string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*" "\\1.\\2" TOS_TORCH_VERSION "${_v}")
      endif()
    endif()
  endforeach()
endif()

find_library(TOS_TORCH_LIB torch PATHS ${TOS_TORCH_DIR}/lib NO_DEFAULT_PATH REQUIRED)
find_library(TOS_TORCH_CPU_LIB torch_cpu PATHS ${TOS_TORCH_DIR}/lib NO_DEFAULT_PATH REQUIRED)
find_library(TOS_C10_LIB c10 PATHS ${TOS_TORCH_DIR}/lib NO_DEFAULT_PATH REQUIRED)
find_library(TOS_TORCH_CUDA_LIB torch_cuda PATHS ${TOS_TORCH_DIR}/lib NO_DEFAULT_PATH)
find_library(TOS_C10_CUDA_LIB c10_cuda PATHS ${TOS_TORCH_DIR}/lib NO_DEFAULT_PATH)
set(TOS_TORCH_CUDA OFF)
if(TOS_TORCH_CUDA_LIB AND TOS_C10_CUDA_LIB)
  set(TOS_TORCH_CUDA ON)
endif()

# The C++ ABI the library was built with: every libtorch 2.x wheel (manylinux_2_28) uses the new
# one; older ones say so in their headers' config.
set(TOS_TORCH_CXX11_ABI 1)
file(GLOB _tos_abi_files ${TOS_TORCH_DIR}/share/cmake/Caffe2/Caffe2Targets.cmake)
if(_tos_abi_files)
  file(STRINGS ${_tos_abi_files} _abi REGEX "_GLIBCXX_USE_CXX11_ABI=0")
  if(_abi)
    set(TOS_TORCH_CXX11_ABI 0)
  endif()
endif()

add_library(TorchOnSpark::torch INTERFACE IMPORTED)
set(_tos_torch_includes ${TOS_TORCH_DIR}/include)
if(EXISTS ${TOS_TORCH_DIR}/include/torch/csrc/api/include)
  list(APPEND _tos_torch_includes ${TOS_TORCH_DIR}/include/torch/csrc/api/include)
endif()
set_target_properties(TorchOnSpark::torch PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_tos_torch_includes}"
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_tos_torch_includes}"
  INTERFACE_COMPILE_DEFINITIONS "_GLIBCXX_USE_CXX11_ABI=${TOS_TORCH_CXX11_ABI}")
# libtorch 2.10 and later is C++20 in its headers; earlier 2.x is C++17.
if(TOS_TORCH_VERSION VERSION_GREATER_EQUAL 2.10)
  set_target_properties(TorchOnSpark::torch PROPERTIES INTERFACE_COMPILE_FEATURES cxx_std_20)
endif()
# Only the CPU libraries: libtorch.so of a CUDA build needs libtorch_cuda.so and with it about
# 1.5 GB of CUDA libraries at every process's start. A program that wants a GPU loads them
# when it asks for one (tos::train::LoadTorchCuda, tos/train/cuda.h), as `import torch` does.
set(_tos_torch_libs ${TOS_TORCH_CPU_LIB} ${TOS_C10_LIB} ${CMAKE_DL_LIBS})
# The wheel's libraries find their own dependencies (libgomp, the CUDA runtime of the nvidia-*
# packages) through their $ORIGIN run paths; the linker is told to trust those instead of
# resolving each one now, and the program finds libtorch itself through its own run path.
list(APPEND _tos_torch_libs "-Wl,-rpath,${TOS_TORCH_DIR}/lib" "-Wl,--allow-shlib-undefined")
set_target_properties(TorchOnSpark::torch PROPERTIES INTERFACE_LINK_LIBRARIES "${_tos_torch_libs}")
message(STATUS "TorchOnSpark: libtorch ${TOS_TORCH_VERSION} from ${TOS_TORCH_DIR} "
               "(CUDA: ${TOS_TORCH_CUDA})")
