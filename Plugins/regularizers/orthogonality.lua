--[[ orthogonality.lua: soft orthogonality of weight matrices.
ARGS   opts.weight  coefficient
RETURN penalty(self, ctx) = weight * sum over weights W of ||W W^T - I||_F^2, where each weight of rank
       >= 2 is viewed as a matrix [out, in * kh * kw] (convolution filters as rows).
Reference: Bansal, Chen & Wang, "Can We Gain More from Orthogonality Regularizations in Training Deep
CNNs?", NeurIPS 2018 (soft orthogonality, SO). ]]
return {
   kind = "regularizer",
   name = "orthogonality",
   description = "weight · sum of ||W Wᵀ - I||² over weight matrices (soft orthogonality)",
   reference = "Bansal, Chen & Wang, Can We Gain More from Orthogonality Regularizations, 2018",
   defaults = {weight = 1e-4},
   options = {weight = "coefficient of the penalty"},

   penalty = function(self, ctx)
      local names = {}
      for name, parameter in pairs(ctx.parameters) do
         if #parameter:shape() >= 2 then names[#names + 1] = name end
      end
      table.sort(names)
      assert(#names > 0, "orthogonality: no weight matrices to penalize (pass parameters = model)")
      local total
      for _, name in ipairs(names) do
         local weight = ctx.parameters[name]
         local rows = weight:shape()[1]
         local matrix = weight:reshape{rows, weight:numel() // rows}
         local identity = tensor.one_hot(tensor.arange(rows), rows):type_as(matrix)
         local term = (matrix:matmul(matrix:t()) - identity):square():sum()
         total = total and total + term or term
      end
      return total * self.options.weight
   end,
}
