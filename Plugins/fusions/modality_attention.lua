--[[ modality_attention.lua: attention over modalities.
ARGS   opts.input_dims  feature size of each modality, e.g. {64, 32}
       opts.dim         output size
RETURN forward(self, inputs) with inputs = {x1 [N, d1], x2 [N, d2], ...} gives [N, dim]:
       h_i = W_i x_i + b_i (a projection per modality), scores s_i = v . tanh(h_i), weights
       beta = softmax over modalities of s (per sample), output sum_i beta_i h_i. Unlike the gated unit's
       per-feature gates, one weight per modality and sample: how much each modality is trusted for this
       input (inspectable with self:weights(inputs)). With v = 0 it is the mean of the projections.
Reference: Hori, Hori, Lee, Zhang, Harsham, Hershey, Marks & Sumi, "Attention-Based Multimodal Fusion
for Video Description", ICCV 2017. ]]
return {
   kind = "fusion",
   name = "modality_attention",
   description = "softmax attention over modalities: one trust weight per modality and sample",
   reference = "Hori et al., Attention-Based Multimodal Fusion for Video Description, ICCV 2017",
   defaults = {input_dims = {64, 64}, dim = 64},
   options = {input_dims = "feature size of each modality", dim = "output size"},

   init = function(self, opts)
      assert(#opts.input_dims >= 2, "modality attention needs at least two modalities")
      for i, size in ipairs(opts.input_dims) do self:module("project" .. i, nn.Linear(size, opts.dim)) end
      self:parameter("score", tensor.randn{opts.dim, 1} * (1 / math.sqrt(opts.dim)))
   end,

   -- The projections [N, m, dim] and the modality weights [N, m].
   weights = function(self, inputs)
      local count = #self.options.input_dims
      assert(#inputs == count, ("modality attention expects %d inputs, got %d"):format(count, #inputs))
      local projected = {}
      for i = 1, count do projected[i] = self["project" .. i](inputs[i]) end
      local stacked = tensor.stack(projected, 2)                              -- [N, m, dim]
      local scores = stacked:tanh():matmul(self.score):squeeze(3)             -- [N, m]
      return stacked, scores:softmax(2)
   end,

   forward = function(self, inputs)
      local stacked, beta = self:weights(inputs)
      return (stacked * beta:unsqueeze(3)):sum(2)
   end,
}
