// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {ConstantProductPool} from "../src/ConstantProductPool.sol";
import {TestToken} from "../src/TestToken.sol";
import {NoBoolToken} from "../src/NoBoolToken.sol";
import {FeeOnTransferToken} from "../src/FeeOnTransferToken.sol";

contract ConstantProductPoolTest is TestBase {
    TestToken internal usdc;
    TestToken internal weth;
    ConstantProductPool internal pool;

    address internal provider = address(uint160(uint256(keccak256("provider"))));
    address internal trader = address(uint160(uint256(keccak256("trader"))));
    address internal receiver = address(uint160(uint256(keccak256("receiver"))));

    uint16 internal constant FEE_BPS = 30;
    uint256 internal constant R0 = 3_000_000e6;
    uint256 internal constant R1 = 1_000e18;

    function setUp() public {
        vm.warp(1_700_000_000);
        usdc = new TestToken("USD Coin", "USDC", 6);
        weth = new TestToken("Wrapped Ether", "WETH", 18);
        pool = new ConstantProductPool(address(usdc), address(weth), FEE_BPS);
        _provide(pool, usdc, weth, R0, R1);
    }

    // ----- helpers -----

    function _provide(ConstantProductPool p, TestToken t0, TestToken t1, uint256 a0, uint256 a1)
        internal
        returns (uint256 liquidity)
    {
        t0.mint(provider, a0);
        t1.mint(provider, a1);
        vm.startPrank(provider);
        t0.approve(address(p), a0);
        t1.approve(address(p), a1);
        liquidity = p.addLiquidity(a0, a1, provider);
        vm.stopPrank();
    }

    function _formula(uint256 amountIn, uint256 reserveIn, uint256 reserveOut, uint16 feeBps)
        internal
        pure
        returns (uint256)
    {
        uint256 withFee = amountIn * (10_000 - uint256(feeBps));
        return (withFee * reserveOut) / (reserveIn * 10_000 + withFee);
    }

    function _swap(ConstantProductPool p, TestToken tokenIn, uint256 amountIn) internal returns (uint256 out) {
        tokenIn.mint(trader, amountIn);
        vm.startPrank(trader);
        tokenIn.approve(address(p), amountIn);
        out = p.swap(address(tokenIn), amountIn, 0, receiver, block.timestamp);
        vm.stopPrank();
    }

    function _k(ConstantProductPool p) internal view returns (uint256) {
        (uint256 r0, uint256 r1) = p.getReserves();
        return r0 * r1;
    }

    // ----- pricing -----

    function testFuzz_GetAmountOutEqualsIntegerFormula(
        uint256 r0,
        uint256 r1,
        uint256 amountIn,
        uint16 feeBps,
        bool zeroForOne
    ) public {
        r0 = bound(r0, 1_000, 1e30);
        r1 = bound(r1, 1_000, 1e30);
        amountIn = bound(amountIn, 0, 1e30);
        feeBps = uint16(bound(feeBps, 0, 9_999));
        ConstantProductPool p = new ConstantProductPool(address(usdc), address(weth), feeBps);
        _provide(p, usdc, weth, r0, r1);
        uint256 expected = zeroForOne ? _formula(amountIn, r0, r1, feeBps) : _formula(amountIn, r1, r0, feeBps);
        assertEq(p.getAmountOut(amountIn, zeroForOne ? address(usdc) : address(weth)), expected, "getAmountOut");
    }

    function testFuzz_SwapPaysTheQuoteAndMovesReservesByExactAmounts(uint256 amountIn, bool zeroForOne) public {
        TestToken tokenIn = zeroForOne ? usdc : weth;
        TestToken tokenOut = zeroForOne ? weth : usdc;
        amountIn = bound(amountIn, 1, 1e27);
        uint256 quote = pool.getAmountOut(amountIn, address(tokenIn));
        vm.assume(quote > 0);
        (uint256 r0, uint256 r1) = pool.getReserves();

        uint256 out = _swap(pool, tokenIn, amountIn);

        assertEq(out, quote, "paid the quote");
        assertEq(tokenOut.balanceOf(receiver), quote, "receiver got the output");
        (uint256 n0, uint256 n1) = pool.getReserves();
        if (zeroForOne) {
            assertEq(n0, r0 + amountIn, "reserve0");
            assertEq(n1, r1 - quote, "reserve1");
        } else {
            assertEq(n0, r0 - quote, "reserve0");
            assertEq(n1, r1 + amountIn, "reserve1");
        }
        assertEq(usdc.balanceOf(address(pool)), n0, "reserve0 equals balance");
        assertEq(weth.balanceOf(address(pool)), n1, "reserve1 equals balance");
    }

    function testFuzz_SwapNeverDecreasesK(uint256 a, uint256 b, uint256 c, uint16 feeBps) public {
        feeBps = uint16(bound(feeBps, 0, 1_000));
        ConstantProductPool p = new ConstantProductPool(address(usdc), address(weth), feeBps);
        _provide(p, usdc, weth, 1e12, 7e20);
        uint256[3] memory amounts = [bound(a, 1, 1e24), bound(b, 1, 1e15), bound(c, 1, 1e24)];
        for (uint256 i = 0; i < amounts.length; ++i) {
            TestToken tokenIn = i % 2 == 0 ? weth : usdc;
            if (p.getAmountOut(amounts[i], address(tokenIn)) == 0) continue;
            uint256 before = _k(p);
            _swap(p, tokenIn, amounts[i]);
            assertGe(_k(p), before, "k decreased");
        }
    }

    function test_SwapEmitsSwapAndSync() public {
        uint256 amountIn = 1_000e6;
        uint256 quote = pool.getAmountOut(amountIn, address(usdc));
        usdc.mint(trader, amountIn);
        vm.startPrank(trader);
        usdc.approve(address(pool), amountIn);
        vm.expectEmit(true, true, true, true, address(pool));
        emit ConstantProductPool.Swap(trader, address(usdc), amountIn, quote, receiver);
        vm.expectEmit(true, true, true, true, address(pool));
        emit ConstantProductPool.Sync(R0 + amountIn, R1 - quote);
        pool.swap(address(usdc), amountIn, quote, receiver, block.timestamp);
        vm.stopPrank();
    }

    // ----- guards -----

    function test_SwapRevertsBelowMinimumOutput() public {
        uint256 amountIn = 5_000e6;
        uint256 quote = pool.getAmountOut(amountIn, address(usdc));
        usdc.mint(trader, amountIn);
        vm.startPrank(trader);
        usdc.approve(address(pool), amountIn);
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.InsufficientOutput.selector, quote, quote + 1));
        pool.swap(address(usdc), amountIn, quote + 1, receiver, block.timestamp);
        uint256 out = pool.swap(address(usdc), amountIn, quote, receiver, block.timestamp);
        vm.stopPrank();
        assertEq(out, quote, "exact minimum accepted");
    }

    function test_SwapRevertsAfterDeadline() public {
        uint256 deadline = block.timestamp + 60;
        usdc.mint(trader, 2e6);
        vm.startPrank(trader);
        usdc.approve(address(pool), 2e6);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.DeadlineExpired.selector, deadline, deadline + 1));
        pool.swap(address(usdc), 1e6, 0, receiver, deadline);
        vm.warp(deadline);
        pool.swap(address(usdc), 1e6, 0, receiver, deadline);
        vm.stopPrank();
    }

    function testFuzz_MinimumOutputGuardHolds(uint256 amountIn, uint256 minAmountOut, bool zeroForOne) public {
        TestToken tokenIn = zeroForOne ? usdc : weth;
        amountIn = bound(amountIn, 1, 1e27);
        uint256 quote = pool.getAmountOut(amountIn, address(tokenIn));
        vm.assume(quote > 0);
        minAmountOut = bound(minAmountOut, 0, quote * 2);
        tokenIn.mint(trader, amountIn);
        vm.startPrank(trader);
        tokenIn.approve(address(pool), amountIn);
        if (minAmountOut > quote) {
            vm.expectRevert(
                abi.encodeWithSelector(ConstantProductPool.InsufficientOutput.selector, quote, minAmountOut)
            );
        }
        pool.swap(address(tokenIn), amountIn, minAmountOut, receiver, block.timestamp);
        vm.stopPrank();
    }

    function testFuzz_DeadlineGuardHolds(uint256 deadline, uint256 at) public {
        deadline = bound(deadline, block.timestamp + 2, block.timestamp + 365 days);
        at = bound(at, deadline - 2, deadline + 2); // the edges are where guards break
        usdc.mint(trader, 1e6);
        vm.startPrank(trader);
        usdc.approve(address(pool), 1e6);
        vm.warp(at);
        if (at > deadline) {
            vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.DeadlineExpired.selector, deadline, at));
        }
        pool.swap(address(usdc), 1e6, 0, receiver, deadline);
        vm.stopPrank();
    }

    function test_SwapRevertsForTokenOutsideThePair() public {
        TestToken other = new TestToken("Other", "OTH", 18);
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.InvalidToken.selector, address(other)));
        pool.swap(address(other), 1e18, 0, receiver, block.timestamp);
    }

    function test_SwapRevertsOnZeroInputOrZeroOutput() public {
        vm.expectRevert(ConstantProductPool.ZeroAmount.selector);
        pool.swap(address(usdc), 0, 0, receiver, block.timestamp);
        // 1 wei of WETH buys less than one USDC base unit.
        assertEq(pool.getAmountOut(1, address(weth)), 0, "dust quote");
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.InsufficientOutput.selector, 0, 0));
        pool.swap(address(weth), 1, 0, receiver, block.timestamp);
    }

    function test_SwapRevertsWithoutApproval() public {
        usdc.mint(trader, 1e6);
        vm.prank(trader);
        vm.expectRevert();
        pool.swap(address(usdc), 1e6, 0, receiver, block.timestamp);
    }

    function test_GetAmountOutRevertsOnEmptyPool() public {
        ConstantProductPool empty = new ConstantProductPool(address(usdc), address(weth), FEE_BPS);
        vm.expectRevert(ConstantProductPool.InsufficientLiquidity.selector);
        empty.getAmountOut(1e6, address(usdc));
    }

    function test_ConstructorRejectsBadPairsAndFees() public {
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.IdenticalTokens.selector, address(usdc)));
        new ConstantProductPool(address(usdc), address(usdc), FEE_BPS);
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.InvalidToken.selector, address(0)));
        new ConstantProductPool(address(0), address(weth), FEE_BPS);
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.FeeTooHigh.selector, uint16(10_000)));
        new ConstantProductPool(address(usdc), address(weth), 10_000);
    }

    function test_NoBoolTokenSwapsBothWays() public {
        NoBoolToken usdt = new NoBoolToken("Tether", "USDT", 6);
        ConstantProductPool p = new ConstantProductPool(address(usdt), address(weth), FEE_BPS);
        usdt.mint(provider, R0);
        weth.mint(provider, R1);
        vm.startPrank(provider);
        usdt.approve(address(p), R0);
        weth.approve(address(p), R1);
        p.addLiquidity(R0, R1, provider);
        vm.stopPrank();

        usdt.mint(trader, 1_000e6);
        vm.startPrank(trader);
        usdt.approve(address(p), 1_000e6);
        uint256 wethOut = p.swap(address(usdt), 1_000e6, 1, trader, block.timestamp);
        weth.approve(address(p), wethOut);
        uint256 usdtBack = p.swap(address(weth), wethOut, 1, trader, block.timestamp);
        vm.stopPrank();
        assertEq(usdt.balanceOf(trader), usdtBack, "round trip paid in no-bool token");
        assertTrue(usdtBack < 1_000e6, "fees were charged");
    }

    function test_FeeOnTransferTokenIsRefused() public {
        FeeOnTransferToken fot = new FeeOnTransferToken("Fee", "FEE", 18);
        ConstantProductPool p = new ConstantProductPool(address(fot), address(weth), FEE_BPS);
        fot.mint(provider, 100e18);
        weth.mint(provider, 100e18);
        vm.startPrank(provider);
        fot.approve(address(p), 100e18);
        weth.approve(address(p), 100e18);
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.TransferAmountMismatch.selector, 100e18, 99e18));
        p.addLiquidity(100e18, 100e18, provider);
        vm.stopPrank();
    }

    // ----- liquidity -----

    function test_FirstDepositMintsSqrtOfProduct() public view {
        assertEq(pool.liquidityOf(provider), _sqrt(R0 * R1), "first shares");
        assertEq(pool.totalLiquidity(), _sqrt(R0 * R1), "total shares");
        assertEq(usdc.balanceOf(address(pool)), R0, "token0 held");
        assertEq(weth.balanceOf(address(pool)), R1, "token1 held");
    }

    function testFuzz_LiquidityRoundTripNeverPaysMoreThanDeposited(uint256 a0, uint256 a1, uint256 swapIn) public {
        a0 = bound(a0, 1e6, 1e15);
        a1 = bound(a1, 1e15, 1e24);
        swapIn = bound(swapIn, 0, 1e12);
        if (swapIn > 0 && pool.getAmountOut(swapIn, address(usdc)) > 0) _swap(pool, usdc, swapIn);
        (uint256 r0, uint256 r1) = pool.getReserves();
        uint256 supply = pool.totalLiquidity();
        uint256 minted = _provide(pool, usdc, weth, a0, a1);
        uint256 expectedMint = a0 * supply / r0 < a1 * supply / r1 ? a0 * supply / r0 : a1 * supply / r1;
        assertEq(minted, expectedMint, "minted by the smaller ratio");

        uint256 before0 = usdc.balanceOf(provider);
        uint256 before1 = weth.balanceOf(provider);
        vm.prank(provider);
        (uint256 out0, uint256 out1) = pool.removeLiquidity(minted, provider);
        assertTrue(out0 <= a0 && out1 <= a1, "withdrew more than deposited");
        assertEq(usdc.balanceOf(provider) - before0, out0, "token0 paid");
        assertEq(weth.balanceOf(provider) - before1, out1, "token1 paid");
        (uint256 n0, uint256 n1) = pool.getReserves();
        assertEq(usdc.balanceOf(address(pool)), n0, "reserve0 equals balance");
        assertEq(weth.balanceOf(address(pool)), n1, "reserve1 equals balance");
    }

    function test_RemoveMoreThanOwnedReverts() public {
        uint256 owned = pool.liquidityOf(provider);
        vm.prank(provider);
        vm.expectRevert(
            abi.encodeWithSelector(ConstantProductPool.InsufficientLiquidityBalance.selector, owned, owned + 1)
        );
        pool.removeLiquidity(owned + 1, provider);
        vm.prank(trader);
        vm.expectRevert(abi.encodeWithSelector(ConstantProductPool.InsufficientLiquidityBalance.selector, 0, 1));
        pool.removeLiquidity(1, trader);
    }

    function test_RemoveAllLiquidityEmptiesThePool() public {
        uint256 owned = pool.liquidityOf(provider);
        vm.prank(provider);
        (uint256 out0, uint256 out1) = pool.removeLiquidity(owned, provider);
        assertEq(out0, R0, "all token0");
        assertEq(out1, R1, "all token1");
        (uint256 r0, uint256 r1) = pool.getReserves();
        assertEq(r0 + r1 + pool.totalLiquidity(), 0, "empty");
    }

    function _sqrt(uint256 x) internal pure returns (uint256 y) {
        if (x == 0) return 0;
        y = x;
        uint256 z = (x + 1) / 2;
        while (z < y) {
            y = z;
            z = (x / z + z) / 2;
        }
    }
}
