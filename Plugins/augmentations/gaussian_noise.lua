--[[ gaussian_noise.lua: adds independent Gaussian noise to every pixel, as torchvision's v2.GaussianNoise.
ARGS   mean (default 0), sigma (default 0.1): the noise's mean and standard deviation; clip (default true):
       clamp the result to [0, 1], the range of images scaled to [0, 1].
RETURN augment(self, images) = images + mean + sigma * N(0, 1), drawn per pixel from the run's generator
       (clamped to [0, 1] when clip is set): a copy of the same shape and type.
Reference: torchvision transforms.v2.GaussianNoise; noise augmentation as in Cohen, Rosenfeld & Kolter,
"Certified Adversarial Robustness via Randomized Smoothing", ICML 2019. ]]
return {
   kind = "augmentation",
   name = "gaussian_noise",
   description = "add Gaussian noise N(mean, sigma^2) to every pixel, clamped to [0, 1] (torchvision's GaussianNoise)",
   reference = "torchvision transforms.v2.GaussianNoise; Cohen et al., ICML 2019",
   defaults = {mean = 0, sigma = 0.1, clip = true},
   options = {mean = "the noise's mean", sigma = "the noise's standard deviation", clip = "clamp to [0, 1]"},

   augment = function(self, images)
      assert(self.options.sigma >= 0, "sigma must be non-negative, got " .. tostring(self.options.sigma))
      local noisy = images + tensor.randn(images:shape()):type_as(images) * self.options.sigma + self.options.mean
      if self.options.clip then noisy = noisy:clamp(0, 1) end
      return noisy
   end,
}
