--[[ l1.lua: L1 weight penalty, which drives weights to exactly zero (sparsity).
ARGS   opts.weight        coefficient
       opts.include_bias  also penalize biases and other rank-1 parameters
RETURN penalty(self, ctx) = weight * sum over parameters of sum |w| (a scalar tensor)
Reference: Tibshirani, "Regression Shrinkage and Selection via the Lasso", 1996. ]]
return {
   kind = "regularizer",
   name = "l1",
   description = "weight · sum of absolute weights (sparsity)",
   reference = "Tibshirani, Regression Shrinkage and Selection via the Lasso, 1996",
   defaults = {weight = 1e-5, include_bias = false},
   options = {weight = "coefficient of the penalty", include_bias = "also penalize rank-1 parameters"},

   penalty = function(self, ctx)
      local names = {}
      for name in pairs(ctx.parameters) do names[#names + 1] = name end
      table.sort(names)   -- a fixed summation order keeps runs bit-identical
      local total
      for _, name in ipairs(names) do
         local parameter = ctx.parameters[name]
         if self.options.include_bias or #parameter:shape() > 1 then
            local term = parameter:abs():sum()
            total = total and total + term or term
         end
      end
      assert(total, "l1: no parameters to penalize (pass parameters = model)")
      return total * self.options.weight
   end,
}
