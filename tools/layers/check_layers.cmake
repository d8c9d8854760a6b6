# The layer rule of docs/ARCHITECTURE.md, checked on every build:
#
#   cmake -DROOT=<repository> -P tools/layers/check_layers.cmake
#
# Every source file in a layer's folders may include (with "...") only files
# of the layers listed for it below, or files next to it. An include that
# reaches up, or into tests/ or tools/, fails with the file, the line and the
# include. Angle-bracket includes are libraries and are not checked.
cmake_minimum_required(VERSION 3.25)
if(NOT DEFINED ROOT)
  message(FATAL_ERROR "check_layers: pass -DROOT=<repository root>")
endif()
get_filename_component(ROOT "${ROOT}" ABSOLUTE)

# Folder -> layer, most specific first (a file belongs to the first match).
set(WL_FOLDERS
  runtime/core core   runtime/cpu core   runtime/cuda core
  cache cache
  runtime/model model
  render render
  ui ui
  app/sources/oracle oracle
  app/sources sources
  app/loop app   app/record app   app/serve app
  bench/eval eval
  app/cli cli)
# Layer -> the layers its files may include.
set(WL_SEES_core    core)
set(WL_SEES_cache   core cache)
set(WL_SEES_model   core cache model)
set(WL_SEES_render  core render)
set(WL_SEES_ui      core cache render ui)
set(WL_SEES_oracle  core oracle)
set(WL_SEES_sources core cache model oracle sources)
set(WL_SEES_app     core cache model render ui oracle sources app)
set(WL_SEES_eval    core cache model oracle sources app eval)
set(WL_SEES_cli     core cache model render ui oracle sources app eval cli)
# Quoted includes under these folders belong to no layer and no layer may use them.
set(WL_OUTSIDE tests tools scripts assets docs)

function(wl_layer_of path out)
  list(LENGTH WL_FOLDERS n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET WL_FOLDERS ${i} folder)
    list(GET WL_FOLDERS ${j} layer)
    string(LENGTH "${folder}/" len)
    string(SUBSTRING "${path}" 0 ${len} head)
    if(head STREQUAL "${folder}/")
      set(${out} ${layer} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

set(globs)
foreach(folder runtime cache render ui app bench/eval)
  foreach(ext h cpp cu cuh inc)
    list(APPEND globs "${folder}/*.${ext}")
  endforeach()
endforeach()
list(TRANSFORM globs PREPEND "${ROOT}/")
file(GLOB_RECURSE files RELATIVE "${ROOT}" ${globs})
list(SORT files)

set(errors 0)
set(checked 0)
foreach(f IN LISTS files)
  wl_layer_of("${f}" layer)
  if(layer STREQUAL "")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  get_filename_component(dir "${f}" DIRECTORY)
  file(STRINGS "${ROOT}/${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*$" "\\1" inc "${line}")
    if(EXISTS "${ROOT}/${dir}/${inc}" AND NOT inc MATCHES "/")
      continue()  # a file next to this one
    endif()
    wl_layer_of("${inc}" target)
    if(target STREQUAL "")
      string(REGEX REPLACE "/.*$" "" top "${inc}")
      if(inc MATCHES "/" AND (top IN_LIST WL_OUTSIDE OR EXISTS "${ROOT}/${top}"))
        message(NOTICE "check_layers: error: ${f}: includes \"${inc}\", which is outside every layer (${top}/)")
        math(EXPR errors "${errors} + 1")
      endif()
      continue()  # a generated file or a library's header
    endif()
    if(NOT target IN_LIST WL_SEES_${layer})
      message(NOTICE "check_layers: error: ${f}: layer ${layer} includes \"${inc}\" of layer ${target}; "
                         "${layer} may include only: ${WL_SEES_${layer}} (docs/ARCHITECTURE.md, Layers)")
      math(EXPR errors "${errors} + 1")
    endif()
  endforeach()
endforeach()

if(errors GREATER 0)
  message(FATAL_ERROR "check_layers: ${errors} include(s) reach a layer they may not")
endif()
if(checked EQUAL 0)
  message(FATAL_ERROR "check_layers: no source files found under ${ROOT}")
endif()
message(STATUS "check_layers: ${checked} files, every include within its layer's reach")
