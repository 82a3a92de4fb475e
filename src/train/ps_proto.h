// Conversions between the ps protocol's messages and tos_train's types, shared by the
// parameter server and its client.
#pragma once

#include "ps.pb.h"
#include "tos/train/ps.h"

namespace tos::train {

inline void SpecToProto(const OptimizerSpec& s, ps::OptimizerSpec* p) {
  p->set_type(s.type);
  p->set_learning_rate(s.learning_rate);
  p->set_momentum(s.momentum);
  p->set_nesterov(s.nesterov);
  p->set_initial_accumulator(s.initial_accumulator);
  p->set_beta1(s.beta1);
  p->set_beta2(s.beta2);
  p->set_epsilon(s.epsilon);
}

inline OptimizerSpec SpecFromProto(const ps::OptimizerSpec& p) {
  OptimizerSpec s;
  s.type = p.type();
  s.learning_rate = p.learning_rate();
  s.momentum = p.momentum();
  s.nesterov = p.nesterov();
  s.initial_accumulator = p.initial_accumulator();
  s.beta1 = p.beta1();
  s.beta2 = p.beta2();
  s.epsilon = p.epsilon();
  return s;
}

}  // namespace tos::train
