--[[ fgsm.lua: the fast gradient sign method.
ARGS   opts.eps  L-infinity budget
       opts.clamp_min, opts.clamp_max  the valid input range
RETURN perturb(self, model, inputs, targets) = clamp(inputs + eps * sign(d CE(model(inputs), targets) / d inputs))
       The model is used in its current mode (call model:eval() first, as torchattacks does by default).
Reference: Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015. ]]
return {
   kind = "attack",
   name = "fgsm",
   description = "one signed-gradient step of size eps on the cross-entropy (L∞)",
   reference = "Goodfellow, Shlens & Szegedy, Explaining and Harnessing Adversarial Examples, 2015",
   defaults = {eps = 8 / 255, clamp_min = 0, clamp_max = 1},
   options = {eps = "L∞ budget", clamp_min = "lowest valid input", clamp_max = "highest valid input"},

   perturb = function(self, model, inputs, targets)
      local x = inputs:detach():requires_grad()
      local loss = losses.cross_entropy(model(x), targets)
      local gradient = grad(loss, x)
      local o = self.options
      return (inputs:detach() + gradient:sign() * o.eps):clamp(o.clamp_min, o.clamp_max)
   end,
}
