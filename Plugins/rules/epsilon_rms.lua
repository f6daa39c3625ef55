--[[ epsilon_rms.lua: LRP-epsilon with epsilon scaled by the size of each sample's layer outputs.
ARGS   opts.epsilon  the stabiliser as a fraction of the root mean square of the layer's outputs
RETURN relevance(self, layer, input, relevance) = x * W^T (R / (z + eps * rms(z) * sign(z))), z = W x + b,
       rms(z) over all output positions of the sample; sign(0) = +1. A fixed epsilon is too large for layers
       with small outputs and too small for layers with large ones; scaling it by the outputs' size keeps it a
       constant fraction of the signal (Montavon et al. suggest epsilon = 0.25 std of z).
Reference: Montavon et al., "Layer-Wise Relevance Propagation: An Overview", 2019 (epsilon relative to the
activations); Zennit Stabilizer(norm_scale=True). ]]
return {
   kind = "rule",
   name = "epsilon_rms",
   description = "LRP-ε with ε a fraction of the root mean square of each sample's layer outputs",
   reference = "Montavon et al., 2019; Zennit Stabilizer(norm_scale=True)",
   defaults = {epsilon = 0.25},
   options = {epsilon = "stabiliser as a fraction of rms(z) per sample"},

   relevance = function(self, layer, input, relevance)
      local x = input:requires_grad()
      local z = layer.module:forward_with(x, layer.weight, layer.bias)
      local shape = z:shape()
      local n = shape[1]
      local broadcast = {n}
      for _ = 2, #shape do broadcast[#broadcast + 1] = 1 end
      local values = z:detach()
      local rms = values:square():reshape{n, -1}:mean(2):sqrt():reshape(broadcast)
      local sign = values:ge(0) * 2 - 1                      -- sign with sign(0) = +1
      local scaled = relevance / (values + sign * rms * self.options.epsilon)
      local contribution = grad((z * scaled):sum(), x)
      return input:detach() * contribution
   end,
}
