--[[ blobs.lua: isotropic Gaussian blobs for quick experiments and tests (like scikit-learn make_blobs).
ARGS   opts.samples, opts.features, opts.centers, opts.std, opts.spread (range of the centers)
RETURN load(self, opts) = {inputs = [samples, features], labels = [samples] int64, 0-based, balanced}
       drawn from lucerna's random generator (set by --seed or lucerna.manual_seed).
Reference: scikit-learn sklearn.datasets.make_blobs. ]]
return {
   kind = "dataset",
   name = "blobs",
   description = "Gaussian blobs: inputs [N, features] and balanced labels",
   reference = "scikit-learn make_blobs",
   defaults = {samples = 300, features = 2, centers = 3, std = 1.0, spread = 10.0},
   options = {samples = "number of samples", features = "input features", centers = "classes",
              std = "standard deviation of each blob", spread = "centers are uniform in [-spread, spread]"},

   load = function(self, opts)
      assert(opts.samples > 0 and opts.features > 0 and opts.centers > 0, "blobs: sizes must be positive")
      local centers = (tensor.rand{opts.centers, opts.features} * 2 - 1) * opts.spread
      local labels = {}
      for i = 1, opts.samples do labels[i] = (i - 1) % opts.centers end
      local positions = tensor(labels) + 1   -- index_select takes 1-based positions
      local inputs = centers:index_select(1, positions) + tensor.randn{opts.samples, opts.features} * opts.std
      return {inputs = inputs, labels = tensor(labels):long()}
   end,
}
