--[[ softmax_regression.lua: a linear classifier on flattened inputs, the baseline every model should beat.
ARGS   opts.in_features  input features after flattening
       opts.classes      output classes
RETURN forward(self, x [N, ...]) = logits [N, classes]
Reference: Cox, "The Regression Analysis of Binary Sequences", 1958 (multinomial logistic regression). ]]
return {
   kind = "model",
   name = "softmax_regression",
   description = "multinomial logistic regression: flatten, then one linear layer",
   reference = "Cox, 1958",
   defaults = {in_features = 784, classes = 10},
   options = {in_features = "input features after flattening", classes = "output classes"},

   init = function(self, opts)
      self:module("linear", nn.Linear(opts.in_features, opts.classes))
   end,

   forward = function(self, x)
      return self.linear(x:flatten(2))
   end,

   example = function(self)
      return tensor.randn{2, self.options.in_features}
   end,
}
