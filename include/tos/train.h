// TorchOnSpark's libtorch helpers in one include (library TorchOnSpark::train):
//   - data-parallel training: ConnectTrainers (the trainers' ring) and GradientAllreducer;
//   - parameter servers over gRPC: ps.h (server) and ps_client.h;
//   - checkpoints and exports that are verified when read, TensorBoard event files;
//   - the threads one node should use on a shared machine (threads.h).
// tos.h is the runtime (cluster, nodes, feeds); this header adds only what needs libtorch.
#pragma once

#include "tos/train/allreduce.h"
#include "tos/train/checkpoint.h"
#include "tos/train/collectives.h"
#include "tos/train/cuda.h"
#include "tos/train/event_writer.h"
#include "tos/train/export.h"
#include "tos/train/kv_store.h"
#include "tos/train/models.h"
#include "tos/train/ps.h"
#include "tos/train/ps_client.h"
#include "tos/train/tcp_collectives.h"
#include "tos/train/threads.h"
