--[[ gated.lua: gated multimodal unit (GMU) fusion.
ARGS   opts.input_dims  feature size of each modality, e.g. {64, 32}
       opts.dim         output size
RETURN forward(self, inputs) with inputs = {x1 [N, d1], x2 [N, d2], ...} gives [N, dim]:
       sum over modalities i of z_i * tanh(W_i x_i), with per-feature gates z = softmax over modalities
       of W_z [x1; x2; ...]. With two modalities this is the GMU's z * h1 + (1 - z) * h2.
Reference: Arevalo, Solorio, Montes-y-Gómez & González, "Gated Multimodal Units for Information
Fusion", ICLR workshop 2017. ]]
return {
   kind = "fusion",
   name = "gated",
   description = "gated multimodal unit: softmax gates per feature weigh tanh projections of each modality",
   reference = "Arevalo et al., Gated Multimodal Units for Information Fusion, 2017",
   defaults = {input_dims = {64, 64}, dim = 64},
   options = {input_dims = "feature size of each modality", dim = "output size"},

   init = function(self, opts)
      assert(#opts.input_dims >= 2, "gated fusion needs at least two modalities")
      local total = 0
      for i, size in ipairs(opts.input_dims) do
         self:module("project" .. i, nn.Linear(size, opts.dim))
         total = total + size
      end
      self:module("gate", nn.Linear(total, opts.dim * #opts.input_dims))
   end,

   forward = function(self, inputs)
      local count, dim = #self.options.input_dims, self.options.dim
      assert(#inputs == count, ("gated fusion expects %d inputs, got %d"):format(count, #inputs))
      local n = inputs[1]:shape()[1]
      local gates = self.gate(tensor.cat(inputs, 2)):reshape{n, count, dim}:softmax(2)
      local fused
      for i = 1, count do
         local weighted = self["project" .. i](inputs[i]):tanh() * gates:narrow(2, i, 1):reshape{n, dim}
         fused = fused and fused + weighted or weighted
      end
      return fused
   end,
}
