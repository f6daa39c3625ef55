--[[ hires_cam.lua: HiResCAM, a CAM method written as a Lua plugin on the engine of the CAM family.
ARGS   opts.layer      the module (by name) whose activations are explained (default: the last 4-D one)
       opts.normalize  min-max normalise each map (default true)
RETURN cam_map(self, activations, gradients) = sum over channels of gradients * activations, [N, h, w];
       the engine captures the layer, then relus, normalises and resizes the map as for Grad-CAM.
Reference: Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional
neural networks", 2020; pytorch-grad-cam HiResCAM. ]]
return {
   kind = "explainer",
   name = "hires_cam",
   description = "HiResCAM: gradient times activation, summed over channels (element-wise Grad-CAM)",
   reference = "Draelos & Carin, 2020; pytorch-grad-cam HiResCAM",
   defaults = {},

   -- (1) element-wise product of the gradients and the activations [N, C, h, w]; (2) sum over channels.
   cam_map = function(self, activations, gradients)
      return (gradients * activations):sum(2)
   end,
}
