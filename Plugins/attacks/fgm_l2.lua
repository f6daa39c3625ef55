--[[ fgm_l2.lua: the fast gradient method in the L2 norm.
ARGS   opts.eps  L2 budget per input
       opts.clamp_min, opts.clamp_max  the valid input range
RETURN perturb(self, model, inputs, targets) = clamp(inputs + eps * g / ||g||_2), g = d CE(model(inputs), targets) / d inputs
       per sample (one step to the edge of the L2 ball, then clamped to the valid range). Like every attack,
       it runs with the model in evaluation mode (Lucerna switches it and restores the mode afterwards).
Reference: Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015 (the fast
gradient method); Miyato et al., "Adversarial Training Methods for Semi-Supervised Text Classification", ICLR 2017
(its L2 form). ]]
return {
   kind = "attack",
   name = "fgm_l2",
   description = "one gradient step to the edge of the L2 ball of radius eps",
   reference = "Goodfellow et al., ICLR 2015; Miyato et al., ICLR 2017",
   defaults = {eps = 1.0, clamp_min = 0, clamp_max = 1},
   options = {eps = "L2 budget", clamp_min = "lowest valid input", clamp_max = "highest valid input"},

   perturb = function(self, model, inputs, targets)
      local x = inputs:detach():requires_grad()
      local gradient = grad(losses.cross_entropy(model(x), targets), x)
      local n = gradient:shape()[1]
      local broadcast = {n}
      for _ = 2, #gradient:shape() do broadcast[#broadcast + 1] = 1 end
      local length = gradient:reshape{n, -1}:square():sum(2):sqrt():reshape(broadcast) + 1e-12
      local o = self.options
      return (inputs:detach() + gradient / length * o.eps):clamp(o.clamp_min, o.clamp_max)
   end,
}
