--[[ gradient_x_input.lua: input times the gradient of the target logit.
ARGS   opts.absolute  return |attribution|
RETURN attribute(self, model, inputs, targets) = inputs * d logit_target / d inputs (same shape as inputs)
Reference: Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box: Learning Important Features
Through Propagating Activation Differences", 2016; Captum InputXGradient. ]]
return {
   kind = "explainer",
   name = "gradient_x_input",
   description = "input × gradient of the target class score",
   reference = "Shrikumar et al., 2016; Captum InputXGradient",
   defaults = {absolute = false},
   options = {absolute = "return absolute attributions"},

   attribute = function(self, model, inputs, targets)
      local n = inputs:shape()[1]
      if targets == nil then targets = no_grad(function() return model(inputs):argmax(2) - 1 end) end   -- the predicted classes
      local x = inputs:detach():requires_grad()
      local scores = model(x):gather(2, (targets:float() + 1):reshape{n, 1}):sum()
      local attribution = x:detach() * grad(scores, x)
      return self.options.absolute and attribution:abs() or attribution
   end,
}
