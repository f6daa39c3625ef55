--[[ lion.lua: the Lion optimizer (evolved sign momentum).
ARGS   opts.params  the tensors to train; opts.lr, opts.betas = {beta1, beta2}, opts.weight_decay
RETURN update(self, parameter, gradient, state, group) = the new parameter:
       c = beta1 m + (1 - beta1) g;  p <- p - lr (sign(c) + wd p);  m <- beta2 m + (1 - beta2) g
       (decoupled weight decay as in AdamW; the moment m lives in the per-parameter state table).
Reference: Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023 (Algorithm 2). ]]
return {
   kind = "optimizer",
   name = "lion",
   description = "Lion: sign of an interpolated momentum, with decoupled weight decay",
   reference = "Chen et al., Symbolic Discovery of Optimization Algorithms, 2023",
   defaults = {lr = 1e-4, betas = {0.9, 0.99}, weight_decay = 0.0},
   options = {lr = "learning rate (3-10x smaller than AdamW's)", betas = "{beta1, beta2}", weight_decay = "decoupled weight decay"},

   update = function(self, parameter, gradient, state, group)
      local beta1, beta2 = self.options.betas[1], self.options.betas[2]
      state.moment = state.moment or gradient * 0
      local direction = (state.moment * beta1 + gradient * (1 - beta1)):sign()
      local updated = parameter * (1 - group.lr * group.weight_decay) - direction * group.lr
      state.moment = state.moment * beta2 + gradient * (1 - beta2)
      return updated
   end,
}
