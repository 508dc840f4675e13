from vk_collector.cli.main import main

main()
