# The core's modules, one static library each (tos_<module>), linked along the dependency
# graph of docs/modules.md. A module's files may include its own headers, those of the
# modules it depends on, and the public headers (include/tos/); configuring fails on any other
# include, naming the file. tos_core (TorchOnSpark::core) is all of them.
#
# tos_module(<name> DEPS <modules...>)
set(TOS_MODULE_TARGETS)
function(tos_module name)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  file(GLOB _files CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cc ${CMAKE_SOURCE_DIR}/src/${name}/*.h)
  foreach(f ${_files})
    file(STRINGS ${f} _includes REGEX "^#include \"[a-z_]+/")
    foreach(inc ${_includes})
      string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" _dep "${inc}")
      if(NOT _dep STREQUAL "tos" AND NOT _dep STREQUAL name AND NOT _dep IN_LIST M_DEPS)
        message(FATAL_ERROR "${f}: `${inc}`: module ${name} may not use module ${_dep} "
                            "(it may use: ${M_DEPS}; see docs/modules.md)")
      endif()
    endforeach()
  endforeach()
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cc)
  add_library(tos_${name} STATIC ${_srcs})
  set_target_properties(tos_${name} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(tos_${name} PUBLIC $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>
                             $<INSTALL_INTERFACE:include> PRIVATE ${CMAKE_SOURCE_DIR}/src)
  foreach(d ${M_DEPS})
    target_link_libraries(tos_${name} PUBLIC tos_${d})
  endforeach()
  set(TOS_MODULE_TARGETS ${TOS_MODULE_TARGETS} tos_${name} PARENT_SCOPE)
endfunction()

tos_module(util)
target_link_libraries(tos_util PUBLIC Threads::Threads)
tos_module(io DEPS util)
target_link_libraries(tos_io PUBLIC ZLIB::ZLIB PRIVATE CURL::libcurl pugixml::pugixml
                      nlohmann_json::nlohmann_json)
tos_module(formats DEPS io util)
target_link_libraries(tos_formats PUBLIC OpenSSL::Crypto nlohmann_json::nlohmann_json)
tos_module(net DEPS util)
target_link_libraries(tos_net PUBLIC OpenSSL::Crypto)
tos_module(reservation DEPS net util)
target_link_libraries(tos_reservation PUBLIC nlohmann_json::nlohmann_json)
tos_module(feed DEPS formats io net util)
tos_module(node DEPS feed io net reservation util)
tos_module(cluster DEPS feed formats io net node reservation util)
tos_module(spark DEPS cluster feed net reservation util)
tos_module(main DEPS node spark util)

add_library(tos_core INTERFACE)
add_library(TorchOnSpark::core ALIAS tos_core)
set_target_properties(tos_core PROPERTIES EXPORT_NAME core)
target_link_libraries(tos_core INTERFACE ${TOS_MODULE_TARGETS})
