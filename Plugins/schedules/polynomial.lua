--[[ polynomial.lua: polynomial decay of the learning rate to zero.
ARGS   opts.optimizer  the optimizer; opts.total_iters  steps to reach zero; opts.power
RETURN rate(self, base, step) = base * (1 - min(step, total_iters) / total_iters) ^ power
Reference: PyTorch torch.optim.lr_scheduler.PolynomialLR; Chen et al., DeepLab, 2017 ("poly" policy). ]]
return {
   kind = "schedule",
   name = "polynomial",
   description = "decay the rate to zero as (1 - t / total_iters)^power",
   reference = "PyTorch PolynomialLR; Chen et al., DeepLab, 2017",
   defaults = {total_iters = 5, power = 1.0},
   options = {total_iters = "steps until the rate reaches zero", power = "exponent of the decay"},

   init = function(self, opts)
      assert(opts.total_iters > 0, "polynomial: total_iters must be positive")
   end,

   rate = function(self, base, step)
      local progress = math.min(step, self.options.total_iters) / self.options.total_iters
      return base * (1 - progress) ^ self.options.power
   end,
}
