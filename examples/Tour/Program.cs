Console.WriteLine("Noex.Lite tour: filled in once the codec and the frames land.");
