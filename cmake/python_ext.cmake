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
pybind11_add_module(tos_python_ext ${CMAKE_SOURCE_DIR}/python/ext/tos_module.cc)
set_target_properties(tos_python_ext PROPERTIES OUTPUT_NAME _tos
                      LIBRARY_OUTPUT_DIRECTORY ${TOS_PYTHON_EXT_DIR})
target_include_directories(tos_python_ext PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(tos_python_ext PRIVATE tos_core)
target_link_options(tos_python_ext PRIVATE -Wl,--exclude-libs,ALL)
pybind11_add_module(tos_python_train_ext ${CMAKE_SOURCE_DIR}/python/ext/tos_train_module.cc)
set_target_properties(tos_python_train_ext PROPERTIES OUTPUT_NAME _tos_train
                      LIBRARY_OUTPUT_DIRECTORY ${TOS_PYTHON_EXT_DIR})
target_include_directories(tos_python_train_ext PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(tos_python_train_ext PRIVATE tos_ps)
target_link_options(tos_python_train_ext PRIVATE -Wl,--exclude-libs,ALL)
