# The Python extension modules torchonspark._tos and torchonspark._tos_train, for TOS_PYTHON with
# its pybind11; written to TOS_PYTHON_EXT_DIR (default: next to the package's sources).
execute_process(COMMAND ${TOS_PYTHON} -m pybind11 --cmakedir OUTPUT_VARIABLE _pybind11_dir
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _pybind11_rc ERROR_QUIET)
if(_pybind11_rc EQUAL 0)
  set(pybind11_DIR ${_pybind11_dir})
endif()
set(PYBIND11_FINDPYTHON ON)
set(Python_EXECUTABLE ${TOS_PYTHON})
find_package(pybind11 2.12 CONFIG)
if(NOT pybind11_FOUND)
  message(FATAL_ERROR "pybind11 >= 2.12 is not importable from ${TOS_PYTHON}: run `make setup` "
                      "(scripts/venv_setup.sh installs it into .venv)")
endif()
set_target_properties(${TOS_MODULE_TARGETS} PROPERTIES POSITION_INDEPENDENT_CODE ON)
if(NOT TOS_PYTHON_EXT_DIR)
  set(TOS_PYTHON_EXT_DIR ${CMAKE_SOURCE_DIR}/python/torchonspark)
endif()
# tos_python_ext_module(TARGET MODULE_NAME SOURCE LIBRARY): one extension module.
function(tos_python_ext_module target name source library)
  pybind11_add_module(${target} ${CMAKE_SOURCE_DIR}/python/ext/${source})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${name}
                        LIBRARY_OUTPUT_DIRECTORY ${TOS_PYTHON_EXT_DIR})
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${target} PRIVATE ${library})
  # Each keeps its copy of the libraries' symbols to itself.
  target_link_options(${target} PRIVATE -Wl,--exclude-libs,ALL)
endfunction()
tos_python_ext_module(tos_python_ext _tos tos_module.cc tos_core)
tos_python_ext_module(tos_python_train_ext _tos_train tos_train_module.cc tos_ps)
